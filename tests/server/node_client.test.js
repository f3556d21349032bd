'use strict';
// twincache-server from Node: @grpc/grpc-js with the .proto loaded at run time by
// @grpc/proto-loader. Values, the Delete contract, the error codes and the request id.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const root = path.resolve(__dirname, '..', '..');
const binary =
  process.env.TWINCACHE_SERVER_BIN || path.join(root, 'build/release/server/twincache-server');
const skip = fs.existsSync(binary)
  ? false
  : 'twincache-server is not built (scripts/build release with libgrpc++-dev)';

function startServer(args) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('TWINCACHE_')) delete env[k];
    // scripts/test-server runs this file once per serving mode (--api).
    const mode = process.env.TWINCACHE_TEST_SERVER_API;
    if (mode) env.TWINCACHE_API = mode;
    const proc = spawn(binary, ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', ...args], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let buf = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      buf += d;
      for (const line of buf.split('\n')) {
        if (line.includes('"event":"listening"')) resolve({ proc, info: JSON.parse(line) });
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited ${code}: ${buf}`)));
  });
}

function client(port) {
  const def = protoLoader.loadSync(path.join(root, 'proto/twincache/v1/cache.proto'), {
    includeDirs: [path.join(root, 'proto')],
    keepCase: true,
    longs: Number,
    defaults: true,
  });
  const { Cache } = grpc.loadPackageDefinition(def).twincache.v1;
  return new Cache(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

const call = (c, method, req, md) =>
  new Promise((resolve, reject) => {
    c[method](req, md || new grpc.Metadata(), (err, res) => (err ? reject(err) : resolve(res)));
  });

test('Node grpc-js client against twincache-server', { skip }, async (t) => {
  const { proc, info } = await startServer(['--max-value-bytes', '100']);
  assert.equal(info.api, process.env.TWINCACHE_TEST_SERVER_API || 'async');
  const c = client(info.grpc_port);
  t.after(() => {
    c.close();
    proc.kill('SIGTERM');
  });

  await t.test('set, get, delete with bytes', async () => {
    const key = Buffer.from([0, 255, 1]);
    assert.equal((await call(c, 'Get', { key })).found, false);
    assert.equal((await call(c, 'Set', { key, value: Buffer.from('héllo') })).updated, false);
    const got = await call(c, 'Get', { key });
    assert.equal(got.found, true);
    assert.deepEqual(got.value, Buffer.from('héllo'));
    assert.equal((await call(c, 'Delete', { key })).deleted, true);
    assert.equal((await call(c, 'Delete', { key })).deleted, false);
  });

  await t.test('batches keep request order', async () => {
    await call(c, 'SetMany', {
      entries: [
        { key: Buffer.from('a'), value: Buffer.from('1'), ttl_ms: 60000 },
        { key: Buffer.from('b'), value: Buffer.from('2') },
      ],
    });
    const r = await call(c, 'GetMany', { keys: [Buffer.from('b'), Buffer.from('x')] });
    assert.deepEqual(
      r.results.map((x) => [x.found, x.value.toString()]),
      [
        [true, '2'],
        [false, ''],
      ],
    );
    const s = await call(c, 'Stats', {});
    assert.equal(s.items, 2);
    assert.equal(s.max_value_bytes, 100);
  });

  await t.test('errors are status codes with the rule in the details', async () => {
    await assert.rejects(call(c, 'Get', { key: Buffer.alloc(0) }), {
      code: grpc.status.INVALID_ARGUMENT,
      details: 'key must be 1 to 4096 bytes (got 0)',
    });
    await assert.rejects(
      call(c, 'Set', { key: Buffer.from('k'), value: Buffer.from('v'), ttl_ms: -5 }),
      {
        code: grpc.status.INVALID_ARGUMENT,
      },
    );
    await assert.rejects(call(c, 'Set', { key: Buffer.from('k'), value: Buffer.alloc(101) }), {
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: 'value must be at most 100 bytes (--max-value-bytes) (got 101)',
    });
  });

  await t.test('the request id comes back in the initial metadata', async () => {
    const md = new grpc.Metadata();
    md.set('x-request-id', 'node-1');
    const seen = await new Promise((resolve, reject) => {
      const ca = c.Get({ key: Buffer.from('k') }, md, (err) => err && reject(err));
      ca.on('metadata', (m) => resolve(m.get('x-request-id')[0]));
    });
    assert.equal(seen, 'node-1');
  });
});
