'use strict';
// The package as a user gets it: `npm pack` (prepack builds the prebuilt binary into the
// tarball), then `npm install <tarball>` into a fresh project with npm's defaults (no install
// scripts needed). Checks that the native binary loads from the installed package, and that a
// broken or missing binary falls back to pure JavaScript with exactly one warning.
// Run by scripts/test-node once (not in the twice-run suite: it packs and installs).
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..', '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-pack-'));
const env = { ...process.env, npm_config_update_notifier: 'false' };
delete env.TWINCACHE_PURE;

function npm(args, cwd) {
  return execFileSync('npm', args, {
    cwd,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

// Runs a script in the installed project; returns { out, err, status }.
function runIn(dir, file, source, extraEnv = {}) {
  fs.writeFileSync(path.join(dir, file), source);
  const r = spawnSync(process.execPath, [file], {
    cwd: dir,
    env: { ...env, ...extraEnv },
    encoding: 'utf8',
  });
  return { out: r.stdout.trim(), err: r.stderr, status: r.status };
}

const PROBE_CJS = `
const t = require('twincache');
const f = t.memoize((x) => x * 2, { max: 10 });
f(2); f(2);
console.log(JSON.stringify({ native: t.native, hits: f.stats().hits }));
`;
const PROBE_BOTH = `
import { createRequire } from 'node:module';
import { native, Cache } from 'twincache';
const cjs = createRequire(import.meta.url)('twincache');
const c = new Cache({ max: 1 });
c.set('a', 1).set('b', 2);
console.log(JSON.stringify({ native, same: cjs.native === native, size: c.size }));
`;

let tarball;
let app;
const prebuild = () =>
  path.join(
    app,
    'node_modules',
    'twincache',
    'node',
    'prebuilds',
    `${process.platform}-${process.arch}`,
    'twincache.napi.node',
  );

test.before(() => {
  const out = npm(['pack', '--json', '--pack-destination', work], root);
  // prepack's build log comes first; npm's JSON starts at a line holding only '['.
  const info = JSON.parse(out.slice(out.search(/^\[$/m)));
  tarball = path.join(work, info[0].filename);
  app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'app', version: '1.0.0', private: true }),
  );
  npm(['install', '--no-audit', '--no-fund', tarball], app);
});

test.after(() => fs.rmSync(work, { recursive: true, force: true }));

test('the tarball ships the prebuilt binary and only what users need', () => {
  const list = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
  const rel = `package/node/prebuilds/${process.platform}-${process.arch}/twincache.napi.node`;
  assert.ok(list.includes(rel), `${rel} in ${list.join(' ')}`);
  for (const f of ['package/package.json', 'package/node/lib/index.js', 'package/node/index.mjs']) {
    assert.ok(list.includes(f), f);
  }
  assert.ok(list.includes('package/node/index.d.ts'));
  for (const f of list) {
    assert.doesNotMatch(f, /^package\/(tests|bench|core|python|scripts|node\/src)\//, f);
  }
});

test('installed with npm defaults, require() loads the native binary without a warning', () => {
  const r = runIn(app, 'probe.cjs', PROBE_CJS);
  assert.equal(r.status, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), { native: true, hits: 1 });
  assert.equal(r.err, '');
});

test('import and require share one native instance', () => {
  const r = runIn(app, 'probe.mjs', PROBE_BOTH);
  assert.equal(r.status, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), { native: true, same: true, size: 1 });
  assert.equal(r.err, '');
});

test('TWINCACHE_PURE=1 selects pure JavaScript silently', () => {
  const r = runIn(app, 'probe.cjs', PROBE_CJS, { TWINCACHE_PURE: '1' });
  assert.deepEqual(JSON.parse(r.out), { native: false, hits: 1 });
  assert.equal(r.err, '');
});

// The Redis envelope's MAC (redis_envelope.js) runs in the packed addon (its RedisMac: the
// core's SHA-256), and signs as crypto.createHmac does. A module file of the installed package,
// reached by its path (the package's exports name only the entry points).
const PROBE_MAC = `
const crypto = require('node:crypto');
const path = require('node:path');
const env = require(path.join(path.dirname(require.resolve('twincache')), 'redis_envelope.js'));
const secret = Buffer.from('packed-secret-0123456789');
const body = crypto.randomBytes(1100);
const head = Buffer.from('twincache/redis/1\x04\x00\x00\x00ns:k', 'latin1');
const want = crypto.createHmac('sha256', secret).update(head).update(body).digest();
const equal = env.mac(secret, 'ns:k', body).equals(want);
console.log(JSON.stringify({ source: env._testing.macSource(), equal }));
`;

test("the Redis envelope's MAC runs in the packed addon, and in JavaScript when pure", () => {
  let r = runIn(app, 'probe_mac.cjs', PROBE_MAC);
  assert.equal(r.status, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), { source: 'native', equal: true });
  assert.equal(r.err, '');
  r = runIn(app, 'probe_mac.cjs', PROBE_MAC, { TWINCACHE_PURE: '1' });
  assert.deepEqual(JSON.parse(r.out), { source: 'pure', equal: true });
});

function countWarnings(stderr) {
  return stderr.split('\n').filter((l) => l.includes('TWINCACHE_NATIVE_UNAVAILABLE')).length;
}

test('a broken binary falls back to pure JavaScript with exactly one warning', () => {
  const file = prebuild();
  const good = fs.readFileSync(file);
  fs.writeFileSync(file, 'not an ELF file');
  try {
    for (const probe of [
      ['probe.cjs', PROBE_CJS, { native: false, hits: 1 }],
      ['probe.mjs', PROBE_BOTH, { native: false, same: true, size: 1 }],
    ]) {
      const r = runIn(app, probe[0], probe[1]);
      assert.equal(r.status, 0, r.err);
      assert.deepEqual(JSON.parse(r.out), probe[2]);
      assert.equal(countWarnings(r.err), 1, r.err);
      assert.match(r.err, /using the pure-JavaScript implementation/);
    }
  } finally {
    fs.writeFileSync(file, good);
  }
});

test('a missing binary falls back with exactly one warning', () => {
  const file = prebuild();
  const moved = file + '.away';
  fs.renameSync(file, moved);
  try {
    const r = runIn(app, 'probe.mjs', PROBE_BOTH);
    assert.equal(r.status, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), { native: false, same: true, size: 1 });
    assert.equal(countWarnings(r.err), 1, r.err);
    assert.match(r.err, /is missing/);
  } finally {
    fs.renameSync(moved, file);
  }
});
