'use strict';
// Freshness options of memoize (issue 18): stale-while-revalidate, early refresh (XFetch), TTL
// jitter, negative caching; and Cache.fetch's signal / forceRefresh / allowStale. Injected clock
// and random source (_testing), no sleeps: background refreshes are awaited through
// _testing.refreshes(fn).
const test = require('node:test');
const assert = require('node:assert/strict');
const { Cache, memoize, _testing } = require('twincache');

test.beforeEach(() => _testing.useManualClock(1000));
test.afterEach(() => {
  _testing.useRealClock();
  _testing.setRandom(undefined);
});

test('the stale window serves the old value and refreshes once', async () => {
  let calls = 0;
  const f = memoize((x) => [x, ++calls], { ttl: 100, stale: 50 });
  assert.deepEqual(f(1), [1, 1]);
  _testing.advance(99);
  assert.deepEqual(f(1), [1, 1]);
  assert.equal(calls, 1);
  _testing.advance(1);
  assert.deepEqual(f(1), [1, 1]); // stale: the old value at once
  await _testing.refreshes(f);
  assert.equal(calls, 2);
  assert.deepEqual(f(1), [1, 2]);
  const s = f.stats();
  assert.equal(s.refreshes, 1);
  assert.equal(s.refreshErrors, 0);
});

test('after the stale window callers wait on a fresh call', () => {
  let calls = 0;
  const f = memoize(() => ++calls, { ttl: 100, stale: 50 });
  assert.equal(f('a'), 1);
  _testing.advance(150);
  assert.equal(f('a'), 2);
  assert.equal(f.stats().refreshes, 0);
});

test('100 concurrent readers of a stale promise start one refresh', async () => {
  let calls = 0;
  let release;
  const gate = new Promise((r) => (release = r));
  const f = memoize(
    async (x) => {
      calls++;
      if (calls > 1) await gate;
      return `${x}#${calls}`;
    },
    { ttl: 100, stale: 1000 },
  );
  assert.equal(await f('k', 2), 'k#1');
  _testing.advance(100);
  const results = await Promise.all(Array.from({ length: 100 }, () => f('k', 2)));
  assert.deepEqual(results, Array(100).fill('k#1'));
  release();
  await _testing.refreshes(f);
  assert.equal(calls, 2);
  assert.equal(await f('k', 2), 'k#2');
});

test('a failed refresh keeps the old value, counts, and reports', async () => {
  let calls = 0;
  const reported = [];
  const f = memoize(
    () => {
      calls++;
      if (calls > 1) throw new Error(`down #${calls}`);
      return 100;
    },
    { ttl: 100, stale: 50, onRefreshError: (err) => reported.push(err.message) },
  );
  assert.equal(f(), 100);
  _testing.advance(100);
  for (const expected of [2, 3]) {
    assert.equal(f(), 100);
    await _testing.refreshes(f);
    assert.equal(calls, expected);
  }
  assert.deepEqual(reported, ['down #2', 'down #3']);
  assert.equal(f.stats().refreshErrors, 2);
  _testing.advance(50); // the window is over: the caller waits on a fresh call and sees it fail
  assert.throws(() => f(), /down #4/);
});

test('a failed refresh without a hook is a process warning', async () => {
  let calls = 0;
  const f = memoize(
    () => {
      if (++calls > 1) throw new Error('bad refresh');
      return 1;
    },
    { ttl: 100, stale: 50 },
  );
  f();
  _testing.advance(100);
  const warned = new Promise((resolve) => process.once('warning', resolve));
  assert.equal(f(), 1);
  await _testing.refreshes(f);
  const w = await warned;
  assert.equal(w.code, 'TWINCACHE_REFRESH_ERROR');
  assert.match(w.message, /bad refresh/);
  assert.equal(f.stats().refreshErrors, 1);
});

test('a hanging refresh blocks no reader; its late result is not stored', async () => {
  let calls = 0;
  let release;
  const hang = new Promise((r) => (release = r));
  const f = memoize(
    (x) => {
      calls++;
      if (calls === 2) return hang.then(() => 'late');
      return calls;
    },
    { ttl: 100, stale: 50 },
  );
  assert.equal(f(1), 1);
  _testing.advance(100);
  for (let i = 0; i < 5; i++) {
    assert.equal(f(1), 1);
    await Promise.resolve();
    _testing.advance(5);
  }
  assert.equal(calls, 2); // one refresh, still hanging
  _testing.advance(25); // the window is over: a fresh call in the caller
  assert.equal(f(1), 3);
  release();
  await hang;
  await new Promise((r) => setImmediate(r));
  assert.equal(f(1), 3);
});

test('early refresh follows the XFetch rule', async () => {
  let calls = 0;
  const f = memoize(
    () => {
      calls++;
      _testing.advance(10); // the computation takes 10 ms: delta = 10
      return calls;
    },
    { ttl: 100, earlyRefresh: 1 },
  );
  assert.equal(f(1), 1); // stored at 1010, fresh until 1110
  _testing.advance(70); // 30 ms before expiry
  // -ln(1 - r) * delta * beta: r = 0.9 gives 23 ms < 30 (no refresh); r = 0.96 gives 32 ms.
  _testing.setRandom(() => 0.9);
  assert.equal(f(1), 1);
  await _testing.refreshes(f);
  assert.equal(calls, 1);
  _testing.setRandom(() => 0.96);
  assert.equal(f(1), 1);
  await _testing.refreshes(f);
  assert.equal(calls, 2);
  assert.equal(f.stats().earlyRefreshes, 1);
  assert.equal(f(1), 2);
});

test('ttlJitter shortens each ttl by at most the fraction', () => {
  const draws = [0, 0.5, 0.999];
  _testing.setRandom(() => draws.shift());
  const f = memoize((x) => x, { ttl: 1000, ttlJitter: 0.5 });
  for (const x of [1, 2, 3]) f(x); // ttls 1000, 750, 500.5 ms
  const live = () => [1, 2, 3].filter((x) => f.cache.has(x));
  _testing.advance(500);
  assert.deepEqual(live(), [1, 2, 3]);
  _testing.advance(1);
  assert.deepEqual(live(), [1, 2]);
  _testing.advance(250);
  assert.deepEqual(live(), [1]);
  _testing.advance(248);
  assert.deepEqual(live(), [1]);
  _testing.advance(1);
  assert.deepEqual(live(), []);
});

test('freshness options are range-checked with typed errors', () => {
  const bad = [
    [
      { ttl: 10, ttlJitter: 1 },
      RangeError,
      'ERR_TWINCACHE_OUT_OF_RANGE',
      /ttlJitter must be a number in \[0, 1\) \(got 1\)/,
    ],
    [{ ttl: 10, ttlJitter: -0.5 }, RangeError, 'ERR_TWINCACHE_OUT_OF_RANGE', /\(got -0.5\)/],
    [
      { ttl: 10, ttlJitter: '0.1' },
      TypeError,
      'ERR_TWINCACHE_INVALID_ARGUMENT',
      /ttlJitter must be a number/,
    ],
    [
      { ttl: 10, earlyRefresh: 0 },
      RangeError,
      'ERR_TWINCACHE_OUT_OF_RANGE',
      /earlyRefresh must be a finite number > 0/,
    ],
    [{ ttl: 10, stale: -1 }, RangeError, 'ERR_TWINCACHE_OUT_OF_RANGE', /stale/],
    [{ stale: 10 }, TypeError, 'ERR_TWINCACHE_INVALID_ARGUMENT', /stale need\(s\) a ttl/],
    [
      { ttl: 10, cacheErrors: true },
      TypeError,
      'ERR_TWINCACHE_INVALID_ARGUMENT',
      /cacheErrors must be a function/,
    ],
    [
      { ttl: 10, errorTtl: 5 },
      TypeError,
      'ERR_TWINCACHE_INVALID_ARGUMENT',
      /errorTtl applies with cacheErrors only/,
    ],
    [
      { ttl: 10, onRefreshError: () => {} },
      TypeError,
      'ERR_TWINCACHE_INVALID_ARGUMENT',
      /onRefreshError applies/,
    ],
  ];
  for (const [options, type, code, message] of bad) {
    assert.throws(
      () => memoize((x) => x, options),
      (err) => {
        assert.ok(err instanceof type, `${JSON.stringify(options)}: ${err}`);
        assert.equal(err.code, code);
        assert.match(err.message, message);
        return true;
      },
    );
  }
});

test('a cached failure is thrown again until errorTtl', () => {
  let calls = 0;
  const f = memoize(
    (x) => {
      calls++;
      const err = new Error(`missing ${x}`);
      err.code = calls < 3 ? 'ENOENT' : 'OTHER';
      throw err;
    },
    { ttl: 60000, cacheErrors: (err) => err.code === 'ENOENT', errorTtl: 2000 },
  );
  for (let i = 0; i < 3; i++) assert.throws(() => f(1), /missing 1/);
  assert.equal(calls, 1);
  assert.equal(f.stats().errorHits, 2);
  _testing.advance(1999);
  assert.throws(() => f(1), /missing 1/);
  assert.equal(calls, 1);
  _testing.advance(1);
  assert.throws(() => f(1), /missing 1/); // called again, cached again
  assert.equal(calls, 2);
  _testing.advance(2000);
  assert.throws(() => f(1), { code: 'OTHER' }); // not cached by the predicate
  assert.throws(() => f(1), { code: 'OTHER' });
  assert.equal(calls, 4);
});

test('a cached rejection is rejected again to every caller until errorTtl', async () => {
  let calls = 0;
  const f = memoize(
    async () => {
      calls++;
      throw new Error('nope');
    },
    { ttl: 60000, cacheErrors: () => true, errorTtl: 500 },
  );
  const all = await Promise.allSettled(Array.from({ length: 10 }, () => f('a')));
  assert.ok(all.every((r) => r.status === 'rejected' && r.reason.message === 'nope'));
  await assert.rejects(f('a'), /nope/);
  assert.equal(calls, 1);
  _testing.advance(500);
  await assert.rejects(f('a'), /nope/);
  assert.equal(calls, 2);
  assert.equal(f.delete('a'), true); // delete drops a cached failure
});

test('fetch: forceRefresh loads anew; allowStale resolves with the cached value meanwhile', async () => {
  const c = new Cache({ ttl: 1000 });
  let n = 0;
  const loader = async (k) => `${k}${++n}`;
  assert.equal(await c.fetch('a', loader), 'a1');
  assert.equal(await c.fetch('a', loader), 'a1');
  assert.equal(await c.fetch('a', loader, { forceRefresh: true }), 'a2');
  assert.equal(c.get('a'), 'a2');
  assert.equal(await c.fetch('a', loader, { forceRefresh: true, allowStale: true }), 'a2');
  await Promise.resolve();
  await new Promise((r) => setImmediate(r));
  assert.equal(c.get('a'), 'a3');
});

test('fetch: an AbortSignal rejects this caller, reaches the loader, and others still get the value', async () => {
  const c = new Cache();
  const ac = new AbortController();
  let seen;
  let release;
  const gate = new Promise((r) => (release = r));
  const loader = async (k, o) => {
    seen = o.signal;
    await gate;
    return 7;
  };
  const mine = c.fetch('x', loader, { signal: ac.signal });
  const other = c.fetch('x', loader);
  assert.equal(seen, ac.signal);
  ac.abort(new Error('stop'));
  await assert.rejects(mine, /stop/);
  release();
  assert.equal(await other, 7);
  assert.equal(c.get('x'), 7);
  await assert.rejects(c.fetch('y', loader, { signal: ac.signal }), /stop/); // already aborted
  assert.throws(() => c.fetch('y', loader, { signal: 1 }), {
    code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
  });
  assert.throws(() => c.fetch('y', loader, { force: true }), /fetch options must only name/);
});

// ---- on disk: memoize(fn, { backend: 'disk', ... }) with the same options (disk_fresh.js) --------

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const disk = require('../../node/lib/disk.js')._testing;

function diskDir() {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-node-fresh-')), 'cache');
}

function onDisk(t) {
  disk.useManualClock(1_700_000_000_000);
  t.after(() => disk.useRealClock());
  return diskDir();
}

test('disk: 100 concurrent readers of a stale promise start one refresh', async (t) => {
  const dir = onDisk(t);
  let calls = 0;
  let release;
  const gate = new Promise((r) => (release = r));
  const f = memoize(
    async (x) => {
      calls++;
      if (calls > 1) await gate;
      return `${x}#${calls}`;
    },
    { backend: 'disk', path: dir, ttl: 100, stale: 1000 },
  );
  assert.equal(await f('k'), 'k#1');
  disk.advance(99);
  assert.equal(await f('k'), 'k#1');
  disk.advance(1);
  const results = await Promise.all(Array.from({ length: 100 }, () => f('k')));
  assert.deepEqual(results, Array(100).fill('k#1'));
  release();
  await _testing.refreshes(f);
  assert.equal(calls, 2);
  assert.equal(await f('k'), 'k#2');
  const s = f.stats();
  assert.equal(s.refreshes, 1);
  assert.equal(s.hits, 102);
});

const sharedDir =
  disk.diskAddon().addon !== null ? false : 'pure mode: DiskCache is memory-only, one per memo';

test(
  'disk: entries are kept for the stale window, seen by another memo of the directory',
  {
    skip: sharedDir,
  },
  async (t) => {
    const dir = onDisk(t);
    let calls = 0;
    const make = () =>
      memoize(
        function compute(x) {
          calls++;
          return [x, calls];
        },
        { backend: 'disk', path: dir, ttl: 100, stale: 50, codec: 'json' },
      );
    const first = make();
    assert.deepEqual(first(1), [1, 1]);
    first.cache.flush(); // committed: another handle sees it
    disk.advance(140);
    const g = make();
    assert.deepEqual(g(1), [1, 1]); // stale, from the directory
    await _testing.refreshes(g);
    assert.deepEqual(g(1), [1, 2]);
    disk.advance(151);
    assert.deepEqual(make()(1), [1, 3]); // past ttl + stale: computed by the caller
  },
);

test('disk: a failed refresh keeps the old value until the window ends', async (t) => {
  const dir = onDisk(t);
  let calls = 0;
  const reported = [];
  const f = memoize(
    () => {
      calls++;
      if (calls > 1) throw new Error(`down #${calls}`);
      return 100;
    },
    { backend: 'disk', path: dir, ttl: 100, stale: 50, onRefreshError: (e) => reported.push(e) },
  );
  assert.equal(f(), 100);
  disk.advance(100);
  for (const expected of [2, 3]) {
    assert.equal(f(), 100);
    await _testing.refreshes(f);
    assert.equal(calls, expected);
  }
  assert.deepEqual(
    reported.map((e) => e.message),
    ['down #2', 'down #3'],
  );
  assert.equal(f.stats().refreshErrors, 2);
  disk.advance(50);
  assert.throws(() => f(), /down #4/);
});

test('disk: cached failures, early refresh, jitter, delete forgets a refresh', async (t) => {
  const dir = onDisk(t);
  let calls = 0;
  const f = memoize(
    (x) => {
      calls++;
      if (x < 0) throw new RangeError(`no ${x}`);
      return x;
    },
    {
      backend: 'disk',
      path: dir,
      ttl: 100,
      cacheErrors: (e) => e instanceof RangeError,
      errorTtl: 20,
    },
  );
  for (let i = 0; i < 3; i++) assert.throws(() => f(-1), { name: 'RangeError', message: 'no -1' });
  assert.equal(calls, 1);
  assert.equal(f.stats().errorHits, 2);
  disk.advance(20);
  assert.throws(() => f(-1), RangeError);
  assert.equal(calls, 2);

  let n = 0;
  const g = memoize(
    function early() {
      n++;
      disk.advance(10); // the computation takes 10 ms: delta = 10
      return n;
    },
    { backend: 'disk', path: dir, ttl: 100, earlyRefresh: 1 },
  );
  assert.equal(g(), 1);
  disk.advance(70); // 30 ms before expiry: r = 0.9 gives 23 ms (no), 0.96 gives 32 ms (yes)
  _testing.setRandom(() => 0.9);
  assert.equal(g(), 1);
  await _testing.refreshes(g);
  assert.equal(n, 1);
  _testing.setRandom(() => 0.96);
  assert.equal(g(), 1);
  await _testing.refreshes(g);
  assert.equal(g(), 2);
  assert.equal(g.stats().earlyRefreshes, 1);

  let m = 0;
  _testing.setRandom(() => 0.5); // 100 * (1 - 0.5 * 0.5) = 75 ms
  const h = memoize(() => ++m, { backend: 'disk', path: dir, ttl: 100, ttlJitter: 0.5 });
  assert.equal(h(), 1);
  disk.advance(74);
  assert.equal(h(), 1);
  disk.advance(1);
  assert.equal(h(), 2);

  assert.throws(() => memoize(() => 1, { backend: 'disk', path: dir, stale: 5 }), {
    message: /stale need\(s\) a ttl/,
  });
  assert.throws(
    () => memoize(() => 1, { backend: 'disk', path: dir, codec: 'json', cacheErrors: () => true }),
    { message: /cacheErrors needs codec 'v8'/ },
  );

  let r = 0;
  let release;
  const gate = new Promise((res) => (release = res));
  const s = memoize(
    async () => {
      r++;
      if (r === 2) await gate;
      return r;
    },
    { backend: 'disk', path: dir, ttl: 100, stale: 1000 },
  );
  assert.equal(await s(), 1);
  disk.advance(100);
  assert.equal(await s(), 1); // a refresh starts, and hangs
  assert.equal(s.delete(), true);
  release();
  await _testing.refreshes(s);
  assert.equal(await s(), 3); // the forgotten refresh (2) was not stored
});
