'use strict';
// Cache: the mapping API, budgets, stats. Runs twice: native and TWINCACHE_PURE=1.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Cache, memoize } = require('twincache');

test('get/set/has/delete and size', () => {
  const c = new Cache();
  assert.equal(c.get('a'), undefined);
  assert.equal(c.set('a', 1), c, 'set returns the cache');
  c.set('b', null).set('c', undefined);
  assert.equal(c.get('a'), 1);
  assert.equal(c.get('b'), null);
  assert.equal(c.has('c'), true, 'undefined values are stored');
  assert.equal(c.size, 3);
  assert.equal(c.delete('a'), true);
  assert.equal(c.delete('a'), false);
  assert.equal(c.has('a'), false);
  assert.equal(c.size, 2);
});

test('keys are compared like Map keys: 1 and "1" differ', () => {
  const c = new Cache();
  c.set(1, 'number').set('1', 'string');
  assert.equal(c.get(1), 'number');
  assert.equal(c.get('1'), 'string');
  const o = {};
  c.set(o, 'object');
  assert.equal(c.get(o), 'object');
  assert.equal(c.get({}), undefined, 'objects are Cache keys by identity');
});

test('max bounds the number of entries and counts evictions', () => {
  const c = new Cache({ max: 3 });
  for (let i = 0; i < 10; i++) c.set(i, i * 10);
  assert.equal(c.size, 3);
  const s = c.stats();
  assert.equal(s.items, 3);
  assert.equal(s.inserts, 10);
  assert.equal(s.evictions, 7);
  assert.equal(s.evictedItems, 7);
  assert.equal([...c.keys()].length, 3);
  for (const [k, v] of c.entries()) assert.equal(v, k * 10);
});

test("policy 'lru' evicts the least recently used entry", () => {
  const c = new Cache({ max: 3, policy: 'lru' });
  c.set('a', 1).set('b', 2).set('c', 3);
  c.get('a'); // order now a, c, b
  c.set('d', 4); // evicts b
  assert.deepEqual([...c.keys()], ['d', 'a', 'c']);
  assert.equal(c.has('b'), false);
  c.set('c', 33); // an update is a use
  c.set('e', 5); // evicts a
  assert.deepEqual(
    [...c.entries()],
    [
      ['e', 5],
      ['c', 33],
      ['d', 4],
    ],
  );
});

test('keys() under the default policy: every live key once (no recency order promised)', () => {
  // docs/node.md promised "most recently used first" for every policy; the default policy keeps
  // no recency order (native: insertion order), so the doc now promises it for 'lru' only.
  const c = new Cache({ max: 50 });
  for (let i = 0; i < 200; i++) {
    c.set(i, i);
    if (i % 3 === 0) c.get(i - 1);
  }
  const keys = [...c.keys()];
  assert.equal(keys.length, c.size);
  assert.equal(new Set(keys).size, keys.length);
  for (const k of keys) assert.equal(c.has(k), true, String(k));
  const live = [];
  for (let i = 0; i < 200; i++) if (c.has(i)) live.push(i);
  assert.deepEqual(
    [...keys].sort((a, b) => a - b),
    live,
  );
  assert.deepEqual(
    [...c.entries()].map(([k, v]) => [k, v]),
    keys.map((k) => [k, k]),
  );
});

test('updating an existing key at capacity evicts nothing', () => {
  const c = new Cache({ max: 2 });
  c.set('a', 1).set('b', 2);
  c.set('a', 11);
  assert.equal(c.size, 2);
  assert.equal(c.get('b'), 2);
  assert.equal(c.get('a'), 11);
  const s = c.stats();
  assert.equal(s.updates, 1);
  assert.equal(s.evictions, 0);
});

test('maxBytes counts key + value + 64 bytes per entry, exactly', () => {
  // 'k0' (2) + 'x'.repeat(34) (34) + 64 = 100 bytes per entry.
  const c = new Cache({ maxBytes: 300 });
  for (let i = 0; i < 3; i++) c.set('k' + i, 'x'.repeat(34));
  assert.equal(c.stats().bytes, 300);
  assert.equal(c.size, 3);
  c.set('k3', 'x'.repeat(34));
  assert.equal(c.size, 3);
  assert.equal(c.stats().bytes, 300);
  assert.equal(c.stats().evictedBytes, 1);
  c.set('k3', 'x'.repeat(4)); // update: 70 bytes
  assert.equal(c.stats().bytes, 270);
  c.delete('k3');
  assert.equal(c.stats().bytes, 200);
});

test('sizeOf weighs values; Buffers weigh their byteLength by default', () => {
  const c = new Cache({ maxBytes: 1000, sizeOf: (v) => v.n });
  c.set('a', { n: 100 });
  assert.equal(c.stats().bytes, 1 + 100 + 64);
  const d = new Cache();
  d.set('b', Buffer.alloc(50));
  assert.equal(d.stats().bytes, 1 + 50 + 64);
  d.set(7, 7);
  assert.equal(d.stats().bytes, 1 + 50 + 64 + 8 + 8 + 64);
});

test('an entry heavier than maxBytes is refused and the cache is unchanged', () => {
  const c = new Cache({ maxBytes: 200 });
  c.set('a', 'small');
  assert.throws(
    () => c.set('a', 'y'.repeat(500)),
    (err) => {
      assert.ok(err instanceof RangeError);
      assert.equal(err.code, 'ERR_TWINCACHE_VALUE_TOO_LARGE');
      assert.equal(
        err.message,
        'entry size (key 1 + value 500 + overhead 64 bytes) must be at most ' +
          'max_bytes = 200 bytes (got 565 bytes)',
      );
      return true;
    },
  );
  assert.equal(c.get('a'), 'small');
  assert.equal(c.size, 1);
  assert.equal(c.stats().rejected, 1);
});

test('a bad sizeOf result throws and leaves the cache unchanged', () => {
  const c = new Cache({ sizeOf: (v) => v });
  c.set('a', 1);
  assert.throws(() => c.set('a', -1), { name: 'RangeError', code: 'ERR_TWINCACHE_OUT_OF_RANGE' });
  assert.throws(() => c.set('a', 'x'), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
  });
  assert.equal(c.get('a'), 1);
});

test('stats: hits, misses; clear() counts entries as cleared and keeps counters', () => {
  const c = new Cache();
  c.set('a', 1).set('b', 2);
  c.get('a');
  c.get('a');
  c.get('zz');
  let s = c.stats();
  assert.equal(s.hits, 2);
  assert.equal(s.misses, 1);
  assert.equal(s.items, 2);
  c.clear();
  s = c.stats();
  assert.equal(s.items, 0);
  assert.equal(s.bytes, 0);
  assert.equal(s.cleared, 2);
  assert.equal(s.hits, 2, 'clear() keeps counters');
  assert.equal(c.get('a'), undefined);
  c.set('a', 3);
  assert.equal(c.get('a'), 3);
  c.resetStats();
  assert.equal(c.stats().hits, 0);
  assert.equal(c.stats().items, 1);
});

test('stats() has the documented keys', () => {
  const keys = Object.keys(new Cache().stats()).sort();
  for (const k of ['hits', 'misses', 'evictions', 'expirations', 'items', 'bytes']) {
    assert.ok(keys.includes(k), k);
  }
});

test('slots are reused after deletes and evictions (many cycles)', () => {
  const c = new Cache({ max: 100 });
  for (let i = 0; i < 10000; i++) {
    c.set(i, i);
    if (i % 3 === 0) c.delete(i - 1);
  }
  c.set('x', 1).set('y', 2);
  assert.equal(c.size, 100);
  let live = 0;
  for (const [k, v] of c.entries()) {
    if (typeof k === 'number') assert.equal(k, v);
    live++;
  }
  assert.equal(live, 100);
  assert.equal(c.get(9999), 9999);
});

test('fetch loads once per key for concurrent callers and stores the value', async () => {
  const c = new Cache();
  let calls = 0;
  const loader = async (k) => {
    calls++;
    await new Promise((r) => setImmediate(r));
    return k + '!';
  };
  const [a, b] = await Promise.all([c.fetch('x', loader), c.fetch('x', loader)]);
  assert.equal(a, 'x!');
  assert.equal(b, 'x!');
  assert.equal(calls, 1);
  assert.equal(c.get('x'), 'x!');
  assert.equal(await c.fetch('x', loader), 'x!');
  assert.equal(calls, 1);
});

test('fetch does not store a rejection; the next fetch retries', async () => {
  const c = new Cache();
  let calls = 0;
  const loader = async () => {
    calls++;
    if (calls === 1) throw new Error('boom');
    return 42;
  };
  await assert.rejects(Promise.all([c.fetch('k', loader), c.fetch('k', loader)]), /boom/);
  assert.equal(calls, 1);
  assert.equal(c.has('k'), false);
  assert.equal(await c.fetch('k', loader), 42);
  assert.equal(calls, 2);
  assert.throws(() => c.fetch('k'), { name: 'TypeError', code: 'ERR_TWINCACHE_INVALID_ARGUMENT' });
});

test('fetch with a synchronously throwing loader rejects', async () => {
  const c = new Cache();
  await assert.rejects(
    c.fetch('k', () => {
      throw new Error('sync');
    }),
    /sync/,
  );
  assert.equal(c.has('k'), false);
});

test("policy 'tinylfu' keeps the bounds and never returns a wrong value", () => {
  const c = new Cache({ max: 100, policy: 'tinylfu' });
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 1000; i++) {
      c.set('k' + i, i);
      if (i % 7 === 0) c.get('k' + (i % 50));
    }
  }
  assert.equal(c.size, 100);
  const s = c.stats();
  assert.equal(s.items, 100);
  assert.equal(s.inserts - s.evictions, 100);
  let live = 0;
  for (let i = 0; i < 1000; i++) {
    const v = c.get('k' + i);
    if (v !== undefined) {
      assert.equal(v, i);
      live++;
    }
  }
  assert.equal(live, 100);
  const m = memoize((a, b) => a * b, { max: 10, policy: 'tinylfu' });
  for (let i = 0; i < 100; i++) assert.equal(m(i, i % 5), i * (i % 5));
  assert.equal(m.stats().items, 10);
});

test('caches that are dropped leave no memory behind (no GC root in the addon)', () => {
  const v8 = require('node:v8');
  const vm = require('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  gc();
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 5000; i++) {
    const c = new Cache({ max: 10 });
    c.set('a', i).set('b', i);
    c.get('a');
  }
  gc();
  gc();
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < 4 * 1024 * 1024, `ArrayBuffer memory grew by ${grown} bytes`);
});

test('one big entry may evict hundreds of small ones, all accounted for', () => {
  const c = new Cache({ maxBytes: 1000 * 70 });
  for (let i = 0; i < 1000; i++) c.set(i, 'ab'); // 8 + 2 + 64 = 74 bytes each: 945 fit
  const before = c.size;
  c.set('big', 'x'.repeat(50000));
  const s = c.stats();
  assert.ok(before - c.size + 1 > 600, `evicted ${before - c.size + 1}`);
  assert.equal(s.evictions, s.inserts - s.items);
  assert.ok(s.bytes <= 70000);
  assert.equal(c.get('big').length, 50000);
  let sum = 0;
  for (const [k, v] of c.entries()) sum += (typeof k === 'string' ? k.length : 8) + v.length + 64;
  assert.equal(sum, s.bytes);
});

test('long runs of hits between writes (a full access ring) keep every policy correct', () => {
  for (const policy of ['lru', 'tinylfu', undefined]) {
    const c = new Cache({ max: 50, policy });
    for (let i = 0; i < 50; i++) c.set(i, i);
    // 5000 hits, more than the access ring holds; the last 50 touch 49, 48, ..., 0.
    for (let r = 0; r < 5000; r++) assert.equal(c.get(49 - (r % 50)), 49 - (r % 50));
    for (let i = 50; i < 60; i++) c.set(i, i);
    assert.equal(c.size, 50);
    const s = c.stats();
    assert.equal(s.hits, 5000);
    assert.equal(s.evictions, 10);
    for (const [k, v] of c.entries()) assert.equal(k, v);
    if (policy === 'lru') {
      // Exact LRU saw every hit: 49..40 were the least recently used (insertion order would
      // have evicted 0..9 instead).
      const left = new Set(c.keys());
      for (let k = 40; k < 50; k++) assert.equal(left.has(k), false, `${k} evicted`);
      for (let k = 0; k < 10; k++) assert.equal(left.has(k), true, `${k} kept`);
    }
  }
});
