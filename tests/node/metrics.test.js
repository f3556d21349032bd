'use strict';
// twincache/metrics: every kind of cache registered, a prom-client Registry scraped (metrics())
// and its Prometheus text parsed back, the values checked against known operations (on injected
// clocks), and every sample checked against the names, types and labels of docs/metrics.md.
// Also: duplicate names, garbage-collected caches, the optional peer dependency, the ESM entry.
// Runs twice: native and TWINCACHE_PURE=1.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Registry } = require('prom-client');
const { Cache, DiskCache, memoize, _testing } = require('twincache');
const metrics = require('twincache/metrics');
const disk = require('../../node/lib/disk.js');

const root = path.resolve(__dirname, '..', '..');

// docs/metrics.md's tables: name -> { type, labels }.
function spec() {
  const text = fs.readFileSync(path.join(root, 'docs', 'metrics.md'), 'utf8');
  const out = new Map();
  for (const m of text.matchAll(/^\| `(twincache_\w+)` \| (\w+) \| ([\w, ]+) \|/gm)) {
    out.set(m[1], { type: m[2], labels: m[3].split(',').map((l) => l.trim()) });
  }
  return out;
}
const SPEC = spec();
const SERVER_ONLY = [
  'twincache_requests_total',
  'twincache_request_duration_seconds',
  'twincache_max_value_bytes',
];

// The Prometheus text format (version 0.0.4), parsed strictly: a list of samples
// { name, labels, value }, each checked against the specification on the way.
function parse(text) {
  const types = new Map();
  const samples = [];
  const seen = new Set();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE (\w+) (counter|gauge)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels = {};
    const body = m[2] || '';
    const rest = body.replace(/(\w+)="((?:[^"\\\n]|\\.)*)",?/g, (_, k, v) => {
      labels[k] = v.replace(/\\(.)/g, (__, c) => (c === 'n' ? '\n' : c));
      return '';
    });
    assert.equal(rest, '', `bad labels in ${line}`);
    const name = m[1];
    const value = Number(m[3]);
    assert.ok(SPEC.has(name), `${name} is not in docs/metrics.md`);
    assert.equal(types.get(name), SPEC.get(name).type, `${name}: type`);
    assert.deepEqual(Object.keys(labels).sort(), [...SPEC.get(name).labels].sort(), name);
    const key = `${name}${JSON.stringify(labels)}`;
    assert.ok(!seen.has(key), `duplicate sample ${key}`);
    seen.add(key);
    samples.push({ name, labels, value });
  }
  return samples;
}

async function scrape(registry) {
  return parse(await registry.metrics());
}

// One cache's samples: 'name' or 'name{extra label value}' -> value.
function of(samples, cache) {
  const out = {};
  for (const { name, labels, value } of samples) {
    if (labels.cache !== cache) continue;
    const extra = Object.entries(labels)
      .filter(([k]) => k !== 'cache')
      .map(([, v]) => `{${v}}`)
      .join('');
    out[name + extra] = value;
  }
  return out;
}

function tmpDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-metrics-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A stand-in for a RedisCache (docs/redis.md's stats() keys), in either casing.
function redisLike(overrides = {}, camel = false, l1) {
  const base = {
    hits: 7,
    misses: 3,
    l1_hits: 5,
    l1_misses: 5,
    l1_items: 4,
    l1_bytes: 400,
    l2_hits: 2,
    l2_misses: 3,
    l2_corrupt: 1,
    l2_unreadable: 0,
    l2_errors: 4,
    l2_timeouts: 1,
    l2_skipped: 6,
    sets: 9,
    l2_sets: 8,
    deletes: 2,
    bytes_sent: 1000,
    bytes_received: 500,
    breaker: 'closed',
    breaker_opened: 0,
    reconnects: 0,
    ...overrides,
  };
  const s = camel
    ? Object.fromEntries(
        Object.entries(base).map(([k, v]) => [
          k.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase()),
          v,
        ]),
      )
    : base;
  const obj = { calls: 0, stats: () => (obj.calls++, { ...s }) };
  if (l1 !== undefined) obj.l1 = l1;
  return obj;
}

// --- memory -------------------------------------------------------------------------------------

test('Cache counters after known operations', async (t) => {
  _testing.useManualClock(1_000_000);
  t.after(() => _testing.useRealClock());
  const registry = new Registry();
  const c = new Cache({ max: 2, ttl: 5000, policy: 'lru' });
  assert.equal(metrics.register(c, { name: 'sessions', registry }), 'sessions');
  c.set('a', 1).set('b', 2);
  c.set('a', 3); // an update; b is now the least recently used
  c.set('c', 4); // evicts b (max)
  assert.equal(c.get('a'), 3);
  assert.equal(c.get('b'), undefined);
  assert.equal(c.delete('c'), true);
  _testing.advance(6000);
  assert.equal(c.get('a'), undefined); // expired: a miss and an expiration
  c.set('x', 0).set('y', 0);
  c.clear();
  assert.deepEqual(of(await scrape(registry), 'sessions'), {
    twincache_hits_total: 1,
    twincache_misses_total: 2,
    twincache_sets_total: 6, // 5 inserts + 1 update
    twincache_rejected_total: 0,
    twincache_deletes_total: 1,
    'twincache_evictions_total{max_items}': 1,
    'twincache_evictions_total{max_bytes}': 0,
    twincache_expirations_total: 1,
    twincache_cleared_total: 2,
    twincache_items: 0,
    twincache_bytes: 0,
    twincache_max_items: 2, // no twincache_max_bytes: unlimited
  });
  c.set('z', 1); // read at scrape time: the next scrape sees it
  const again = of(await scrape(registry), 'sessions');
  assert.equal(again.twincache_items, 1);
  assert.equal(again.twincache_sets_total, 7);
  assert.equal(again.twincache_bytes, c.stats().bytes);
  assert.ok(again.twincache_bytes > 0);
});

test('byte budget: evictions by max_bytes and rejections', async () => {
  const registry = new Registry();
  const c = new Cache({ maxBytes: 2000, policy: 'lru' });
  metrics.register(c, { name: 'blobs', registry });
  for (let i = 0; i < 100; i++) c.set(i, 'x'.repeat(50));
  assert.throws(() => c.set(-1, 'x'.repeat(5000)), { code: 'ERR_TWINCACHE_VALUE_TOO_LARGE' });
  const got = of(await scrape(registry), 'blobs');
  assert.ok(got.twincache_items > 0 && got.twincache_items < 100, `${got.twincache_items}`);
  assert.equal(got['twincache_evictions_total{max_bytes}'], 100 - got.twincache_items);
  assert.equal(got['twincache_evictions_total{max_items}'], 0);
  assert.equal(got.twincache_rejected_total, 1);
  assert.ok(got.twincache_bytes <= 2000);
  assert.equal(got.twincache_max_bytes, 2000);
  assert.equal(got.twincache_max_items, undefined);
});

test('a memoized function', async () => {
  const registry = new Registry();
  const square = memoize(
    function square(x) {
      return x * x;
    },
    { max: 2, policy: 'lru' },
  );
  // The wrapper carries the function's name: it is the default `cache` label.
  assert.equal(square.name, 'square');
  assert.equal(metrics.collector(registry).add(square), 'square');
  metrics.unregister(square, { registry });
  assert.equal(metrics.collector(registry).add(memoize((x) => x)), 'anonymous');
  metrics.unregister('anonymous', { registry });
  assert.equal(metrics.register(square, { name: 'square', registry }), 'square');
  for (const x of [1, 2, 3, 1, 1]) square(x);
  const got = of(await scrape(registry), 'square');
  assert.equal(got.twincache_hits_total, 1);
  assert.equal(got.twincache_misses_total, 4);
  assert.equal(got.twincache_sets_total, 4);
  assert.equal(got['twincache_evictions_total{max_items}'], 2);
  assert.equal(got.twincache_items, 2);
  assert.equal(got.twincache_max_items, 2);
  assert.equal(got.twincache_max_bytes, undefined);
});

// --- disk ---------------------------------------------------------------------------------------

test('DiskCache counters', async (t) => {
  disk._testing.useManualClock(1_700_000_000_000);
  t.after(() => disk._testing.useRealClock());
  const registry = new Registry();
  const d = new DiskCache({ path: tmpDir(t), ttl: 10_000, maxBytes: 1 << 20 });
  metrics.register(d, { name: 'disk', registry });
  d.set('a', '1').set('b', '2').set('b', '3');
  assert.equal(d.get('a'), '1');
  assert.equal(d.get('zz'), undefined);
  assert.equal(d.delete('b'), true);
  disk._testing.advance(11_000);
  assert.equal(d.get('a'), undefined); // expired
  d.set('x', 'y');
  d.clear();
  const expected = {
    twincache_hits_total: 1,
    twincache_misses_total: 2,
    twincache_sets_total: 4,
    twincache_rejected_total: 0,
    twincache_deletes_total: 1,
    'twincache_evictions_total{max_bytes}': 0, // a disk cache has no item limit
    twincache_expirations_total: 1,
    twincache_cleared_total: 1,
    twincache_corrupt_total: 0,
    twincache_items: 0,
    twincache_bytes: 0,
  };
  // Node's DiskCache does not expose its byte limit (yet): then no sample, never a wrong one.
  if (typeof d.maxBytes === 'number') expected.twincache_max_bytes = 1 << 20;
  assert.deepEqual(of(await scrape(registry), 'disk'), expected);
});

test('a disk-memoized function', async (t) => {
  const registry = new Registry();
  const double = memoize((x) => 2 * x, { backend: 'disk', path: tmpDir(t) });
  metrics.register(double, { name: 'double', registry });
  assert.deepEqual([double(1), double(1), double(2)], [2, 2, 4]);
  const got = of(await scrape(registry), 'double');
  assert.equal(got.twincache_hits_total, 1);
  assert.equal(got.twincache_misses_total, 2);
  assert.equal(got.twincache_sets_total, 2);
  assert.equal(got.twincache_items, 2);
  assert.equal(got.twincache_max_items, undefined);
});

// --- redis (by its stats() keys) ----------------------------------------------------------------

for (const camel of [false, true]) {
  test(`a Redis cache read by its stats() keys (${camel ? 'camelCase' : 'snake_case'})`, async () => {
    const registry = new Registry();
    const l1 = new Cache({ max: 5, maxBytes: 9000 });
    l1.set('a', 1);
    l1.get('a');
    const r = redisLike({}, camel, l1);
    metrics.register(r, { name: 'redis', registry });
    assert.deepEqual(of(await scrape(registry), 'redis'), {
      twincache_hits_total: 5, // L1's
      twincache_misses_total: 5,
      twincache_sets_total: 9,
      twincache_deletes_total: 2,
      twincache_rejected_total: 0, // from the L1 object's own stats()
      'twincache_evictions_total{max_items}': 0,
      'twincache_evictions_total{max_bytes}': 0,
      twincache_expirations_total: 0,
      twincache_cleared_total: 0,
      twincache_items: 4,
      twincache_bytes: 400,
      twincache_l2_hits_total: 2,
      twincache_l2_misses_total: 3,
      'twincache_l2_errors_total{timeout}': 1,
      'twincache_l2_errors_total{error}': 3,
      'twincache_l2_errors_total{corrupt}': 1,
      'twincache_l2_errors_total{unreadable}': 0,
      twincache_l2_skipped_total: 6,
      twincache_breaker_open: 0,
      twincache_max_items: 5,
      twincache_max_bytes: 9000,
    });
  });
}

test('breaker_open is 1 unless the breaker is closed; no L1 object: no L1-only rows', async () => {
  const registry = new Registry();
  const open = redisLike({ breaker: 'open' });
  const half = redisLike({ breaker: 'half-open' });
  metrics.register(open, { name: 'open', registry });
  metrics.register(half, { name: 'half', registry });
  const samples = await scrape(registry);
  assert.equal(of(samples, 'open').twincache_breaker_open, 1);
  assert.equal(of(samples, 'half').twincache_breaker_open, 1);
  const got = of(samples, 'open');
  for (const name of [
    'twincache_rejected_total',
    'twincache_expirations_total',
    'twincache_cleared_total',
    'twincache_max_items',
    'twincache_max_bytes',
  ]) {
    assert.equal(got[name], undefined, name);
  }
});

test('each cache is read once per scrape, whatever the number of metrics', async () => {
  const registry = new Registry();
  const r = redisLike();
  metrics.register(r, { name: 'once', registry });
  const before = r.calls;
  await registry.metrics();
  assert.equal(r.calls - before, 1);
  await registry.getMetricsAsJSON();
  assert.equal(r.calls - before, 2);
});

// --- registration -------------------------------------------------------------------------------

test('duplicate names and caches are errors', () => {
  const registry = new Registry();
  const a = new Cache();
  const b = new Cache();
  metrics.register(a, { name: 'one', registry });
  assert.throws(() => metrics.register(b, { name: 'one', registry }), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_BAD_OPTION',
    message: "a cache named 'one' is already registered",
  });
  assert.throws(() => metrics.register(a, { name: 'two', registry }), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_BAD_OPTION',
    message: "this cache is already registered as 'one'",
  });
  assert.deepEqual(metrics.collector(registry).names(), ['one']);
});

test('bad arguments', () => {
  const registry = new Registry();
  assert.throws(() => metrics.register(new Cache(), { registry }), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
    message: 'name is required for a Cache object (only a memoized function has a default name)',
  });
  assert.throws(() => metrics.register({}, { name: 'x', registry }), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
    message:
      'cache must be a twincache Cache, DiskCache, RedisCache or memoized function (got an object)',
  });
  assert.throws(() => metrics.register(new Cache(), { name: 3, registry }), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
    message: 'name must be a non-empty string or undefined (got number 3)',
  });
  assert.throws(() => metrics.register(new Cache(), { name: '', registry }), {
    name: 'RangeError',
    code: 'ERR_TWINCACHE_OUT_OF_RANGE',
    message: "name must be a non-empty string or undefined (got '')",
  });
  assert.throws(() => metrics.register(new Cache(), { name: 'x', registry: {} }), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
    message: 'registry must be a prom-client Registry (got an object)',
  });
  assert.deepEqual(metrics.collector(registry).names(), []);
});

test('a registered cache can be garbage-collected', async () => {
  const v8 = require('node:v8');
  const vm = require('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const registry = new Registry();
  (() => {
    const c = new Cache();
    c.set('k', 1);
    metrics.register(c, { name: 'gone', registry });
  })();
  assert.equal(of(await scrape(registry), 'gone').twincache_items, 1);
  // A WeakRef's target is kept until the current job ends: collect on a later turn.
  for (let i = 0; i < 5 && metrics.collector(registry).names().length > 0; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  assert.deepEqual(of(await scrape(registry), 'gone'), {});
  assert.deepEqual(metrics.collector(registry).names(), []);
  metrics.register(new Cache(), { name: 'gone', registry }); // the name is free again
});

test('unregister', async () => {
  const registry = new Registry();
  const a = new Cache();
  const b = new Cache();
  metrics.register(a, { name: 'a', registry });
  metrics.register(b, { name: 'b', registry });
  assert.equal(metrics.unregister(a, { registry }), true);
  assert.equal(metrics.unregister('b', { registry }), true);
  assert.equal(metrics.unregister('b', { registry }), false);
  assert.deepEqual(await scrape(registry), []);
});

test('one collector per registry', () => {
  const registry = new Registry();
  const first = metrics.collector(registry);
  assert.equal(metrics.collector(registry), first);
  assert.throws(() => new metrics.TwincacheCollector({ registry }), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_BAD_OPTION',
    message:
      'a metric named twincache_hits_total is already registered in this registry ' +
      '(one TwincacheCollector per registry: use metrics.collector(registry))',
  });
});

test("prom-client's default registry, and a collector made by hand", async () => {
  const prom = require('prom-client');
  const c = new Cache();
  c.set('a', 1);
  assert.equal(metrics.register(c, { name: 'default-registry' }), 'default-registry');
  assert.equal(
    of(parse(await prom.register.metrics()), 'default-registry').twincache_sets_total,
    1,
  );
  assert.equal(metrics.unregister('default-registry'), true);

  const registry = new Registry();
  const collector = new metrics.TwincacheCollector({ registry });
  assert.equal(collector.add(c, 'by-hand'), 'by-hand');
  assert.equal(of(await scrape(registry), 'by-hand').twincache_sets_total, 1);
});

test('every specified cache metric is emitted', async (t) => {
  const registry = new Registry();
  const c = new Cache({ max: 1, maxBytes: 1000 });
  metrics.register(c, { name: 'mem', registry });
  metrics.register(redisLike({}, false, c), { name: 'redis', registry });
  metrics.register(new DiskCache({ path: tmpDir(t) }), { name: 'disk', registry });
  const emitted = new Set((await scrape(registry)).map((s) => s.name));
  const expected = [...SPEC.keys()].filter((n) => !SERVER_ONLY.includes(n));
  assert.deepEqual([...emitted].sort(), expected.sort());
});

// --- the entries and the optional peer dependency -----------------------------------------------

function runNode(source, args = []) {
  const r = spawnSync(process.execPath, [...args, '-e', source], { cwd: root, encoding: 'utf8' });
  return { out: r.stdout.trim(), err: r.stderr, status: r.status };
}

test('the ES module entry exports the same functions', async () => {
  const esm = await import('twincache/metrics');
  for (const name of ['TwincacheCollector', 'collector', 'register', 'unregister']) {
    assert.equal(esm[name], metrics[name], name);
  }
  assert.equal(esm.default, metrics);
});

test('requiring twincache does not load prom-client', () => {
  const r = runNode(
    "const t = require('twincache'); new t.Cache().set('a', 1);" +
      "console.log(Object.keys(require.cache).some((f) => f.includes('prom-client')))",
  );
  assert.equal(r.out, 'false', r.err);
});

test('without prom-client, the error says what to install', () => {
  // A resolver that cannot find prom-client, as in a project that did not install it.
  const hide =
    "const M = require('node:module'); const resolve = M._resolveFilename;" +
    "M._resolveFilename = function (request, ...rest) { if (request === 'prom-client') {" +
    "const e = new Error(\"Cannot find module 'prom-client'\"); e.code = 'MODULE_NOT_FOUND';" +
    'throw e; } return resolve.call(this, request, ...rest); };';
  const r = runNode(
    hide +
      "try { require('twincache/metrics'); } catch (e) { console.log(e.code + ': ' + e.message) }",
  );
  assert.equal(
    r.out,
    'MODULE_NOT_FOUND: twincache/metrics needs prom-client: npm install prom-client',
    r.err,
  );
});
