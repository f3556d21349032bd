'use strict';
// Issue 14, item 5: the newest write wins over a fetch's late loader result, sizeOf weights are
// whole bytes (fractions round up), and a sizeOf result out of range is a typed error that
// leaves the cache and its counters unchanged. Runs twice: native and TWINCACHE_PURE=1.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Cache, ByteCache, memoize } = require('twincache');

// A loader whose promise the test settles by hand (before or after the loader is called).
function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { loader: () => promise, resolve: (v) => resolve(v) };
}

test('Cache: a set() made while a fetch() is in flight is not overwritten by the loader', async () => {
  const c = new Cache();
  const d = deferred();
  const p = c.fetch('k', d.loader);
  c.set('k', 'new');
  // A fetch started after the set is a hit on the new value, not a waiter on the old load.
  assert.equal(await c.fetch('k', () => assert.fail('loader called again')), 'new');
  d.resolve('old');
  assert.equal(await p, 'old', 'the fetch itself resolves to its loader result');
  assert.equal(c.get('k'), 'new');
  const s = c.stats();
  assert.equal(s.inserts, 1, 'the late result is not stored');
  assert.equal(s.updates, 0);
});

test('Cache: a refused set() leaves the in-flight fetch to store its result', async () => {
  const c = new Cache({ maxBytes: 200 });
  const d = deferred();
  const p = c.fetch('k', d.loader);
  assert.throws(() => c.set('k', 'y'.repeat(500)), { code: 'ERR_TWINCACHE_VALUE_TOO_LARGE' });
  d.resolve('loaded');
  assert.equal(await p, 'loaded');
  assert.equal(c.get('k'), 'loaded');
});

test('ByteCache: a set() made while a fetch() is in flight wins', async () => {
  const c = new ByteCache();
  const d = deferred();
  const p = c.fetch('k', d.loader);
  c.set('k', 'new');
  d.resolve('old');
  assert.equal(await p, 'old');
  assert.equal(c.get('k'), 'new');
  assert.equal(c.size, 1);
});

test('memoize: a cache.set() while an async result is pending wins', async () => {
  const d = deferred();
  const m = memoize(d.loader, { key: (x) => x });
  const p = m('k');
  m.cache.set('k', 'new');
  d.resolve('old');
  assert.equal(await p, 'old');
  assert.equal(m('k'), 'new');
});

test('fractional sizeOf weights round up to whole bytes and never exceed maxBytes', () => {
  // 'kN' (2) + ceil(35.5) (36) + 64 = 102 bytes per entry: 9 fit in 1000.
  const c = new Cache({ maxBytes: 1000, sizeOf: () => 35.5 });
  c.set('k0', {});
  assert.equal(c.stats().bytes, 102);
  for (let i = 1; i < 10; i++) {
    c.set('k' + i, {});
    const { bytes } = c.stats();
    assert.ok(Number.isInteger(bytes), `bytes ${bytes} is whole`);
    assert.ok(bytes <= 1000, `bytes ${bytes} <= maxBytes`);
  }
  assert.equal(c.size, 9);
  assert.equal(c.stats().bytes, 9 * 102);
  assert.equal(c.stats().evictedBytes, 1);
  // Tiny fractions count as a whole byte each.
  const t = new Cache({ maxBytes: 1000, sizeOf: () => 0.001 });
  for (let i = 0; i < 20; i++) t.set(i, i);
  assert.equal(t.size, 13, '8 + 1 + 64 = 73 bytes each, 13 fit');
  assert.equal(t.stats().bytes, 13 * 73);
  // An update re-weighs with the same rounding.
  let n = 10.2;
  const u = new Cache({ maxBytes: 1000, sizeOf: () => n });
  u.set('a', 1);
  n = 20.01;
  u.set('a', 2);
  assert.equal(u.stats().bytes, 1 + 21 + 64);
});

test('a sizeOf result out of [0, 2^53 - 1] is a typed RangeError; nothing changes', () => {
  let weight = 1;
  const c = new Cache({ sizeOf: () => weight });
  c.set('a', 'kept');
  const before = c.stats();
  for (const [bad, shown] of [
    [2 ** 64, '18446744073709551616'],
    [2 ** 53, '9007199254740992'],
    [-1, '-1'],
    [-0.5, '-0.5'],
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
  ]) {
    weight = bad;
    for (const key of ['a', 'b']) {
      assert.throws(
        () => c.set(key, 'x'),
        (err) => {
          assert.ok(err instanceof RangeError, String(err));
          assert.equal(err.code, 'ERR_TWINCACHE_OUT_OF_RANGE');
          assert.equal(
            err.message,
            `sizeOf result must be a number in [0, 9007199254740991] (got ${shown})`,
          );
          return true;
        },
      );
    }
  }
  weight = 'big';
  assert.throws(() => c.set('a', 'x'), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
    message: "sizeOf result must be a number (got string 'big')",
  });
  assert.deepEqual(c.stats(), before, 'no counter moved: bad input is not a rejected entry');
  assert.equal(c.get('a'), 'kept');
  assert.equal(c.has('b'), false);
  // In range but heavier than an entry may be: refused as too large, and counted.
  weight = 2 ** 53 - 1;
  assert.throws(() => c.set('b', 'x'), {
    name: 'RangeError',
    code: 'ERR_TWINCACHE_VALUE_TOO_LARGE',
  });
  assert.equal(c.stats().rejected, 1);
  assert.equal(c.has('b'), false);
});

test('fetch: a loader result with an out-of-range sizeOf rejects with the typed error', async () => {
  const c = new Cache({ sizeOf: () => 2 ** 64 });
  await assert.rejects(
    c.fetch('k', async () => 'v'),
    { code: 'ERR_TWINCACHE_OUT_OF_RANGE' },
  );
  assert.equal(c.size, 0);
  assert.equal(c.stats().rejected, 0);
});

test('DiskCache: a set() or delete() while a fetch() is in flight wins', async () => {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const { DiskCache } = require('twincache');
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-races-')), 'cache');
  const c = new DiskCache({ path: dir, codec: 'json' });
  const d = deferred();
  const p = c.fetch('k', d.loader);
  c.set('k', 'new');
  d.resolve('old');
  assert.equal(await p, 'old');
  assert.equal(c.get('k'), 'new');
  const e = deferred();
  const q = c.fetch('gone', e.loader);
  assert.equal(c.delete('gone'), false);
  e.resolve('late');
  assert.equal(await q, 'late');
  assert.equal(c.has('gone'), false);
  // A value the codec refuses rejects the fetch and leaves no load behind: the next one runs.
  await assert.rejects(
    c.fetch('bad', async () => NaN),
    { code: /^ERR_TWINCACHE_/ },
  );
  assert.equal(await c.fetch('bad', async () => 1), 1);
  assert.equal(c.get('bad'), 1);
});
