'use strict';
// The Redis tier for Node over TLS (issue 17; docs/redis.md, "Use (Node)"): Debian's
// redis-server on a TLS-only loopback port (`port 0`, `tls-port`, `tls-auth-clients yes`) with
// certificates made here by the openssl CLI (a CA, a server certificate for IP:127.0.0.1, a
// client certificate, and a second CA that signed nothing of this server's). Asserts: a round
// trip with mutual TLS (files and Buffers), the coherence listener over TLS, a client without a
// certificate refused (memoize fails open with computed values; the process survives node-redis
// 5's double 'error' on a TLS 1.3 refusal, checked in a child process), a wrong CA failing
// verification, and the option's bad input. Runs native and TWINCACHE_PURE=1.
const { describe, it: test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { RedisCache, memoize } = require('../../node/lib');
const { skipReason, sleep } = require('./redis_server');
const { freePorts } = require('./redis_cluster');

const SECRET = 'tls-tests-secret-0123456789abcdef';
const TIMEOUT = 1000;

function openssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'the openssl CLI is not installed';
  }
}

const skip = skipReason() || openssl() || false;

let dir = null;
let port = 0;
let proc = null;
let url = '';
const closers = [];
const f = (name) => path.join(dir, name);

// A CA, then certificates it signs (EC P-256: fast to make).
function makeCerts() {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  for (const ca of ['ca', 'other-ca']) {
    run([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=twincache-test-${ca}`,
    ]);
  }
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  fs.writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    run([
      'req',
      ...ec,
      '-keyout',
      `${who}.key`,
      '-out',
      `${who}.csr`,
      '-subj',
      `/CN=twincache-${who}`,
    ]);
    run(
      [
        'x509',
        '-req',
        '-in',
        `${who}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
      ].concat(['-out', `${who}.crt`, '-days', '2', '-extfile', `${who}.ext`]),
    );
  }
}

// Whether the TLS port answers PING to a client with the right certificate.
function pings() {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      ca: fs.readFileSync(f('ca.crt')),
      cert: fs.readFileSync(f('client.crt')),
      key: fs.readFileSync(f('client.key')),
    });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.on('error', () => done(false));
    s.once('secureConnect', () => s.write('PING\r\n'));
    s.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

const mtls = () => ({ ca: f('ca.crt'), cert: f('client.crt'), key: f('client.key') });

function cache(extra) {
  const c = new RedisCache({ url, secret: SECRET, timeout: TIMEOUT, namespace: 'tls', ...extra });
  closers.push(c);
  return c;
}

describe('the Redis tier over TLS', { skip }, () => {
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-tls-'));
    makeCerts();
    [port] = await freePorts(1);
    url = `rediss://127.0.0.1:${port}`;
    const log = fs.openSync(f('redis.log'), 'a');
    proc = spawn(
      'redis-server',
      ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '']
        .concat(['--appendonly', 'no', '--dir', dir, '--tls-cert-file', f('server.crt')])
        .concat(['--tls-key-file', f('server.key'), '--tls-ca-cert-file', f('ca.crt')])
        .concat(['--tls-auth-clients', 'yes']),
      { stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    process.on('exit', () => proc.kill('SIGKILL'));
    const deadline = Date.now() + 10000;
    while (!(await pings())) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        throw new Error(`redis-server (TLS) did not start:\n${fs.readFileSync(f('redis.log'))}`);
      }
      await sleep(20);
    }
  });

  after(async () => {
    for (const c of closers) await c.close();
    if (proc !== null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    }
    if (dir !== null) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('mutual TLS: values round-trip (certificate files, and Buffers)', async () => {
    const a = cache({ tls: mtls() });
    assert.equal(await a.set('k', { v: 1 }), true);
    const buffers = {
      ca: fs.readFileSync(f('ca.crt')),
      cert: fs.readFileSync(f('client.crt')),
      key: fs.readFileSync(f('client.key')),
    };
    const b = cache({ tls: buffers });
    assert.deepEqual(await b.get('k'), { v: 1 });
    assert.deepEqual(await b.getMany(['k', 'nope']), new Map([['k', { v: 1 }]]));
    assert.equal(await b.delete('k'), true);
    assert.equal(await cache({ tls: mtls() }).get('k'), undefined);
    assert.equal(a.stats().l2_errors + b.stats().l2_errors, 0);
  });

  test('memoize and coherence over TLS', async () => {
    let runs = 0;
    const opts = { backend: 'redis', url, tls: mtls(), secret: SECRET, namespace: 'tlsm' };
    const make = () =>
      memoize(async function inc(x) {
        runs++;
        return x + 1;
      }, opts);
    const m1 = make();
    const m2 = make();
    closers.push(m1, m2);
    assert.equal(await m1(1), 2);
    assert.equal(await m2(1), 2);
    assert.equal(runs, 1, 'the second copy read the first one’s value over TLS');
    const c = cache({ tls: mtls(), coherent: true, namespace: 'tlsc' });
    const w = cache({ tls: mtls(), namespace: 'tlsc' });
    assert.equal(await c.waitCoherent(5000), true, 'the invalidation listener connects over TLS');
    await w.set('x', 1);
    assert.equal(await c.get('x'), 1);
    await w.set('x', 2);
    const deadline = Date.now() + 5000;
    while ((await c.get('x')) !== 2 && Date.now() < deadline) await sleep(10);
    assert.equal(await c.get('x'), 2);
  });

  test('a client without a certificate is refused: misses, L1 only, memoize computes', async () => {
    const c = cache({ tls: { ca: f('ca.crt') }, breakerThreshold: 1000 });
    assert.equal(await c.set('k', 1), false, 'Redis refused the write: L1 only');
    assert.equal(await cache({ tls: { ca: f('ca.crt') } }).get('k'), undefined);
    assert.ok(c.stats().l2_errors >= 1);
    let runs = 0;
    const g = memoize(
      async function twice(x) {
        runs++;
        return 2 * x;
      },
      { backend: 'redis', url, tls: { ca: f('ca.crt') }, secret: SECRET, timeout: TIMEOUT },
    );
    closers.push(g);
    for (let i = 0; i < 5; i++) assert.equal(await g(i), 2 * i);
    assert.equal(runs, 5);
    assert.ok(g.cache.stats().l2_errors + g.cache.stats().l2_skipped >= 1);
  });

  test('the process survives many refusals (node-redis 5’s second TLS error)', async () => {
    // A child process, so that a crash shows as its exit code instead of ending this run.
    const script = `
      const { RedisCache } = require(${JSON.stringify(path.join(__dirname, '../../node/lib'))});
      const keep = setInterval(() => {}, 1000);
      (async () => {
        const c = new RedisCache({ url: ${JSON.stringify(url)}, tls: { ca: ${JSON.stringify(f('ca.crt'))} },
          secret: ${JSON.stringify(SECRET)}, timeout: 500, breakerThreshold: 1000000, coherent: true });
        for (let i = 0; i < 30; i++) { await c.set('a' + i, i); await c.get('b' + i); }
        await new Promise((r) => setTimeout(r, 300));
        const s = c.stats();
        console.log(JSON.stringify({ errors: s.l2_errors, hits: s.l2_hits }));
        clearInterval(keep);
        await c.close();
      })();
    `;
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      timeout: 60000,
      env: process.env,
    });
    assert.equal(r.status, 0, `the child ended with ${r.status}: ${r.stderr.slice(-2000)}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.equal(out.hits, 0);
    assert.equal(out.errors, 60, 'every call failed, and was counted');
  });

  test('a server certificate from another CA fails verification', async () => {
    const c = cache({
      tls: { ca: f('other-ca.crt'), cert: f('client.crt'), key: f('client.key') },
    });
    assert.equal(await c.set('k', 1), false);
    assert.equal(await c.get('zz'), undefined);
    assert.ok(c.stats().l2_errors >= 1);
    assert.equal(c.stats().l2_hits, 0);
  });

  test('bad input: typed errors naming the option', () => {
    assert.throws(() => new RedisCache({ url: 'redis://127.0.0.1:1', tls: mtls() }), {
      name: 'RangeError',
      code: 'ERR_TWINCACHE_OUT_OF_RANGE',
      message: 'tls needs rediss:// URLs (got a redis:// url)',
    });
    assert.throws(() => new RedisCache({ url, tls: { ca: f('missing.crt') } }), {
      name: 'RangeError',
      code: 'ERR_TWINCACHE_OUT_OF_RANGE',
      message: `tls.ca must name a readable file (got '${f('missing.crt')}': ENOENT)`,
    });
    assert.throws(() => new RedisCache({ url, tls: { cert: f('client.crt') } }), {
      name: 'TypeError',
      code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
      message: 'tls.cert and tls.key go together (a client certificate)',
    });
    assert.throws(() => new RedisCache({ url, tls: { ca: 42 } }), {
      name: 'TypeError',
      code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
      message: /^tls\.ca must be a file path or a Buffer/,
    });
    assert.throws(() => new RedisCache({ url, tls: { pfx: 'x' } }), {
      name: 'TypeError',
      code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
      message: "tls must only name ca, cert, key, servername, rejectUnauthorized (got 'pfx')",
    });
    const { createClient } = require('redis');
    assert.throws(() => new RedisCache({ client: createClient({ url }), tls: mtls() }), {
      name: 'TypeError',
      code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
      message: 'tls applies with url only (a client passed in keeps its own socket options)',
    });
    assert.throws(() => new RedisCache({ url, tls: 'yes' }), {
      name: 'TypeError',
      code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
      message: /^tls must be an object/,
    });
    assert.throws(
      () =>
        memoize(async () => 1, { backend: 'redis', url: 'redis://h', tls: { ca: f('ca.crt') } }),
      { name: 'RangeError', code: 'ERR_TWINCACHE_OUT_OF_RANGE', message: /^tls needs rediss:/ },
    );
  });
});
