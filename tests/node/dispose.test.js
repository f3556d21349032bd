'use strict';
// dispose(value, key, reason) on Cache and memoize, and reads that are not use (peek,
// getRemainingTTL, has): issue 18, the cache-level half. Time is the injected clock, never a
// sleep; the file runs native and TWINCACHE_PURE=1 alike.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Cache, memoize, _testing } = require('twincache');

test.beforeEach(() => _testing.useManualClock(1000));
test.afterEach(() => _testing.useRealClock());

function recorder() {
  const calls = [];
  const dispose = (value, key, reason) => calls.push([key, value, reason]);
  return { calls, dispose };
}

function countReasons(calls) {
  const n = {};
  for (const [, , r] of calls) n[r] = (n[r] || 0) + 1;
  return n;
}

test('evicted for max, once, after the set returns the cache consistent', () => {
  const { calls, dispose } = recorder();
  const c = new Cache({ max: 2, policy: 'lru', dispose });
  c.set('a', 1).set('b', 2).set('c', 3);
  assert.deepEqual(calls, [['a', 1, 'evicted']]);
  assert.equal(c.has('a'), false);
  assert.equal(c.stats().evictions, 1);
});

test('evicted for maxBytes (default policy)', () => {
  const { calls, dispose } = recorder();
  const c = new Cache({ maxBytes: 1000, dispose });
  c.set('a', 'x'.repeat(500));
  c.set('b', 'y'.repeat(500)); // 2 x (1 + 500 + 64) > 1000
  assert.equal(calls.length, 1);
  assert.equal(calls[0][2], 'evicted');
  assert.equal(c.stats().evictedBytes, 1);
  assert.equal(c.size, 1);
});

test('expired: on the read that finds it, once', () => {
  const { calls, dispose } = recorder();
  const c = new Cache({ ttl: 100, dispose });
  c.set('k', 'v');
  _testing.advance(99);
  assert.equal(c.get('k'), 'v');
  assert.deepEqual(calls, []);
  _testing.advance(1);
  assert.equal(c.get('k'), undefined);
  assert.equal(c.get('k'), undefined);
  assert.deepEqual(calls, [['k', 'v', 'expired']]);
});

test('expired entries nobody reads are reported by the call that reclaims them (prune)', () => {
  const { calls, dispose } = recorder();
  const c = new Cache({ ttl: 10, dispose });
  for (let i = 0; i < 5; i++) c.set(i, i * 10);
  _testing.advance(10);
  assert.deepEqual(calls, []); // nothing behind the owner's back
  assert.equal(c.prune(), 5);
  assert.deepEqual(
    calls.sort((x, y) => x[0] - y[0]),
    [0, 1, 2, 3, 4].map((i) => [i, i * 10, 'expired']),
  );
  assert.equal(c.stats().expirations, 5);
});

test('deleted, replaced (only by a different value), cleared', () => {
  const { calls, dispose } = recorder();
  const c = new Cache({ dispose });
  const first = { n: 1 };
  c.set('a', first);
  c.set('a', first); // the same value: nothing left
  assert.deepEqual(calls, []);
  c.set('a', 2);
  assert.deepEqual(calls, [['a', first, 'replaced']]);
  c.delete('a');
  assert.deepEqual(calls[1], ['a', 2, 'deleted']);
  assert.equal(c.delete('a'), false);
  for (let i = 0; i < 4; i++) c.set(i, String(i));
  c.clear();
  assert.deepEqual(
    calls.slice(2).sort((x, y) => x[0] - y[0]),
    [0, 1, 2, 3].map((i) => [i, String(i), 'cleared']),
  );
  c.clear();
  assert.equal(calls.length, 6);
});

test('a set over an expired entry reports expired, not replaced', () => {
  const { calls, dispose } = recorder();
  const c = new Cache({ ttl: 10, dispose });
  c.set('k', 1);
  _testing.advance(10);
  c.set('k', 2);
  assert.deepEqual(calls, [['k', 1, 'expired']]);
});

for (const policy of ['lru', 'tinylfu']) {
  test(`exactly once per removal, matching the counters (${policy})`, () => {
    const { calls, dispose } = recorder();
    const c = new Cache({ max: 40, ttl: 5000, policy, dispose });
    const written = new Set();
    let serial = 0;
    for (let step = 0; step < 3000; step++) {
      const key = (step * 7919) % 97;
      const op = step % 11;
      if (op < 6) {
        serial++;
        c.set(key, serial);
        written.add(`${key}:${serial}`);
      } else if (op < 8) c.get(key);
      else if (op === 8) c.delete(key);
      else if (op === 9) _testing.advance(700);
      else if (step % 500 === 10) c.clear();
    }
    c.prune();
    const s = c.stats();
    const r = countReasons(calls);
    assert.equal(r.evicted || 0, s.evictions);
    assert.equal(r.expired || 0, s.expirations);
    assert.equal(r.deleted || 0, s.deleted);
    assert.equal(r.cleared || 0, s.cleared);
    assert.equal(r.replaced || 0, s.updates);
    const reported = calls.map(([k, v]) => `${k}:${v}`);
    assert.equal(new Set(reported).size, reported.length); // none twice
    const alive = [...c.entries()].map(([k, v]) => `${k}:${v}`);
    assert.deepEqual(new Set([...reported, ...alive]), written);
    assert.equal(reported.filter((x) => alive.includes(x)).length, 0);
  });
}

test('a throwing dispose is reported as a process warning; the cache carries on', async () => {
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const c = new Cache({
      max: 1,
      policy: 'lru',
      dispose: (v, k, reason) => {
        throw new Error(`boom ${k} ${reason}`);
      },
    });
    c.set('a', 1);
    assert.doesNotThrow(() => c.set('b', 2));
    assert.equal(c.get('b'), 2);
    assert.equal(c.has('a'), false);
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on next tick
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].name, 'TwincacheDisposeWarning');
    assert.equal(warnings[0].code, 'ERR_TWINCACHE_DISPOSE');
    assert.equal(warnings[0].message, 'dispose threw: boom a evicted');
    assert.equal(warnings[0].cause.message, 'boom a evicted');
  } finally {
    process.off('warning', onWarning);
  }
});

test('a re-entrant dispose reads and writes the cache', () => {
  const seen = [];
  let c;
  const dispose = (value, key, reason) => {
    seen.push([key, c.has(key), c.get(key), c.size]);
    if (reason === 'deleted') c.set(`after-${key}`, value); // evicts in turn
  };
  c = new Cache({ max: 3, policy: 'lru', dispose });
  c.set('a', 1).set('b', 2).set('c', 3);
  c.set('d', 4); // evicts a
  c.delete('b'); // dispose writes after-b
  assert.deepEqual(seen[0], ['a', false, undefined, 3]);
  assert.deepEqual(seen[1], ['b', false, undefined, 2]);
  assert.equal(c.get('after-b'), 2);
  assert.deepEqual([...c.keys()].sort(), ['after-b', 'c', 'd']);
  const s = c.stats();
  assert.equal(s.items, 3);
  assert.equal(s.deleted, 1);
  assert.equal(s.evictions, 1);
});

test('a re-entrant dispose that evicts again', () => {
  const log = [];
  let c;
  const dispose = (value, key, reason) => {
    log.push([key, reason]);
    if (typeof key === 'number' && key < 3) c.set(key + 100, value);
  };
  c = new Cache({ max: 2, policy: 'lru', dispose });
  for (let i = 0; i < 4; i++) c.set(i, i);
  assert.equal(c.size, 2);
  assert.equal(log.filter(([k, r]) => k === 0 && r === 'evicted').length, 1);
  assert.ok(log.every(([, r]) => r === 'evicted'));
});

test('memoize: dispose for every reason; key is the key option result', async () => {
  const { calls, dispose } = recorder();
  const sq = memoize((x) => x * x, {
    max: 2,
    ttl: 100,
    policy: 'lru',
    key: (x) => `k${x}`,
    dispose,
  });
  sq(1);
  sq(2);
  sq(3); // evicts k1
  assert.deepEqual(calls, [['k1', 1, 'evicted']]);
  sq.delete(2);
  assert.deepEqual(calls[1], ['k2', 4, 'deleted']);
  _testing.advance(100);
  sq(3); // expired, computed again
  assert.deepEqual(calls[2], ['k3', 9, 'expired']);
  sq.clear();
  assert.deepEqual(calls[3], ['k3', 9, 'cleared']);
  const rejected = memoize(() => Promise.reject(new Error('no')), { dispose });
  await assert.rejects(rejected(1), /no/);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls[4][2], 'deleted'); // a rejected promise leaves the cache
});

test('memoize without a key option: dispose gets undefined for the key', () => {
  const { calls, dispose } = recorder();
  const add = memoize((a, b) => a + b, { max: 1, policy: 'lru', dispose });
  add(1, 2);
  add(3, 4);
  assert.deepEqual(calls, [[undefined, 3, 'evicted']]);
});

test('dispose must be a function', () => {
  assert.throws(() => new Cache({ dispose: 1 }), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
    message: /dispose must be a function/,
  });
  assert.throws(() => memoize((x) => x, { dispose: 'no' }), { name: 'TypeError' });
});

test('peek counts nothing and moves nothing', () => {
  const c = new Cache({ max: 2, policy: 'lru' });
  c.set('a', 1).set('b', 2);
  const before = c.stats();
  assert.equal(c.peek('a'), 1);
  assert.equal(c.peek('zz'), undefined);
  assert.deepEqual(c.stats(), before);
  c.set('c', 3); // a was peeked, not used: evicted
  assert.equal(c.has('a'), false);
  assert.equal(c.has('b'), true);
});

test('peek of an expired entry reads as absent and removes nothing', () => {
  const { calls, dispose } = recorder();
  const c = new Cache({ ttl: 10, dispose });
  c.set('a', 1);
  _testing.advance(10);
  assert.equal(c.peek('a'), undefined);
  assert.equal(c.stats().misses, 0);
  assert.deepEqual(calls, []);
});

test('has is use-free', () => {
  const c = new Cache({ max: 2, policy: 'lru' });
  c.set('a', 1).set('b', 2);
  const before = c.stats();
  assert.equal(c.has('a'), true);
  assert.equal(c.has('zz'), false);
  assert.deepEqual(c.stats(), before);
  c.set('c', 3);
  assert.equal(c.has('a'), false); // has did not refresh a
});

test('getRemainingTTL: ms left, Infinity without a TTL, 0 when absent or expired', () => {
  const c = new Cache({ ttl: 100 });
  assert.equal(c.getRemainingTTL('absent'), 0);
  c.set('a', 1);
  assert.equal(c.getRemainingTTL('a'), 100);
  _testing.advance(25);
  assert.equal(c.getRemainingTTL('a'), 75);
  c.set('b', 2, { ttl: 10 });
  assert.equal(c.getRemainingTTL('b'), 10);
  _testing.advance(75);
  assert.equal(c.getRemainingTTL('a'), 0);
  const before = c.stats();
  assert.equal(c.getRemainingTTL('b'), 0);
  assert.deepEqual(c.stats(), before);
  const plain = new Cache();
  plain.set('x', 1);
  assert.equal(plain.getRemainingTTL('x'), Infinity);
});
