'use strict';
// Freshness options on the Redis tier (issue 18 over issue 16; docs/redis.md, "Freshness"):
// memoize(fn, { backend: 'redis', stale, earlyRefresh, onRefreshError }) against a real
// redis-server of this file's own. L1 time is the injected clock (_testing); an entry is put in
// its stale window in Redis with PEXPIRE (freshness comes from the PTTL the read fetches, not from
// anyone's wall clock), so nothing sleeps. Background refreshes are awaited through
// _testing.refreshes(fn). Runs native and TWINCACHE_PURE=1.
const { describe, it: test, before, after, beforeEach, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { memoize, _testing } = require('../../node/lib');
const env = require('../../node/lib/redis_envelope');
const { lockName } = require('../../node/lib/redis_flight');
const { RedisServer, skipReason } = require('./redis_server');

const skip = skipReason() || false;
const SECRET = 'redis-fresh-secret-0123456789abcdef';
const TIMEOUT = 2000;
const TYPE = 'ERR_TWINCACHE_INVALID_ARGUMENT';
const RANGE = 'ERR_TWINCACHE_OUT_OF_RANGE';

let server = null;
let raw = null; // a plain client, to look at and age what the functions wrote
const made = [];
let nsCount = 0;

function namespace() {
  nsCount++;
  return `fr${nsCount}`;
}

// coherent: false: these tests count L1 hits after a function's own writes, which a coherent L1
// gives up (docs/redis.md, "Coherence"); coherence is tested in redis_coherence.test.js.
function redisMemo(fn, opts) {
  const f = memoize(fn, {
    backend: 'redis',
    coherent: false,
    url: server.url,
    secret: SECRET,
    timeout: TIMEOUT,
    ...opts,
  });
  made.push(f);
  return f;
}

// The one entry name under a namespace (each test has its own).
async function onlyName(ns) {
  const [, names] = await raw.sendCommand(['SCAN', '0', 'MATCH', `${ns}:*`, 'COUNT', '1000']);
  assert.equal(names.length, 1, `one entry under ${ns}`);
  return String(names[0]);
}

async function openedOf(ns) {
  const name = await onlyName(ns);
  const envelope = await raw.sendCommand(['GET', name], { typeMapping: { 36: Buffer } });
  return env.openEnvelope(Buffer.from(SECRET), name, null, envelope);
}

describe('memoize backend redis: stale, earlyRefresh, onRefreshError', { skip }, () => {
  before(async () => {
    server = new RedisServer();
    await server.start();
    raw = await server.client();
  });
  after(async () => {
    for (const f of made) await f.close();
    if (raw !== null) raw.destroy();
    if (server !== null) await server.stop();
    _testing.useRealClock();
  });
  beforeEach(() => _testing.useManualClock(1000));
  afterEach(() => {
    _testing.useRealClock();
    _testing.setRandom(undefined);
  });

  test('an entry lives ttl + stale and carries its stale window', async () => {
    const ns = namespace();
    const f = redisMemo(async (x) => x * 2, { namespace: ns, ttl: 10000, stale: 5000 });
    assert.equal(await f(1), 2);
    const pttl = await raw.pTTL(await onlyName(ns));
    assert.ok(pttl > 10000 && pttl <= 15000, String(pttl)); // PX = ttl + stale (more than ttl)
    const opened = await openedOf(ns);
    assert.equal(opened.flags & env.FLAG_FRESH, env.FLAG_FRESH);
    assert.equal(opened.fields[0], 5000);
  });

  test('L1 serves a stale value, refreshes once and writes Redis', async () => {
    const ns = namespace();
    let calls = 0;
    const fn = async function value(x) {
      calls++;
      return [x, calls];
    };
    const f = redisMemo(fn, { namespace: ns, ttl: 10000, stale: 60000 });
    assert.deepEqual(await f(1), [1, 1]);
    _testing.advance(9900);
    assert.deepEqual(await f(1), [1, 1]); // fresh: no refresh
    assert.equal(calls, 1);
    _testing.advance(200);
    assert.deepEqual(await f(1), [1, 1]); // stale: the old value at once ...
    await _testing.refreshes(f);
    assert.equal(calls, 2); // ... and one refresh
    assert.deepEqual(await f(1), [1, 2]);
    const other = redisMemo(fn, { namespace: ns, ttl: 10000, stale: 60000 });
    assert.deepEqual(await other(1), [1, 2]); // and in Redis
    const s = f.stats();
    assert.equal(s.refreshes, 1);
    assert.equal(s.refreshErrors, 0);
    assert.equal(s.l2_sets, 2);
  });

  test('an entry stale in Redis: 100 concurrent callers get it, one refresh runs', async () => {
    const ns = namespace();
    let calls = 0;
    let release;
    const gate = new Promise((resolve) => {
      release = resolve;
    });
    const fn = async function counted(x) {
      calls++;
      if (calls > 1) await gate; // the refresh: held until every caller has its value
      return calls;
    };
    const opts = { namespace: ns, ttl: 600000, stale: 600000 };
    const writer = redisMemo(fn, opts);
    assert.equal(await writer(3), 1);
    await raw.pExpire(await onlyName(ns), 300000); // 300 s left of a 600 s stale window
    const reader = redisMemo(fn, opts);
    const results = await Promise.all(Array.from({ length: 100 }, () => reader(3)));
    assert.deepEqual(results, Array(100).fill(1));
    assert.equal(calls, 2); // one refresh for 100 callers (held)
    release();
    await _testing.refreshes(reader);
    assert.equal(await reader(3), 2);
    const pttl = await raw.pTTL(await onlyName(ns));
    assert.ok(pttl > 600000 && pttl <= 1200000, String(pttl)); // rewritten: ttl + stale
    const s = reader.stats();
    assert.equal(s.l2_hits, 1);
    assert.equal(s.refreshes, 1);
    assert.equal(s.hits, 101);
  });

  test('a stale L1 record: 100 concurrent callers, one refresh', async () => {
    const ns = namespace();
    let calls = 0;
    let release;
    const gate = new Promise((resolve) => {
      release = resolve;
    });
    const f = redisMemo(
      async (x) => {
        calls++;
        if (calls > 1) await gate;
        return `${x}:${calls}`;
      },
      { namespace: ns, ttl: 1000, stale: 60000 },
    );
    assert.equal(await f('k'), 'k:1');
    _testing.advance(1001);
    const results = await Promise.all(Array.from({ length: 100 }, () => f('k')));
    assert.deepEqual(results, Array(100).fill('k:1'));
    assert.equal(calls, 2);
    release();
    await _testing.refreshes(f);
    assert.equal(await f('k'), 'k:2');
    assert.equal(f.stats().refreshes, 1);
  });

  test('L1 drops an entry at the end of its stale window', async () => {
    const ns = namespace();
    let calls = 0;
    const f = redisMemo(async () => ++calls, { namespace: ns, ttl: 10000, stale: 5000 });
    assert.equal(await f(1), 1);
    await raw.unlink(await onlyName(ns)); // Redis forgets it: L1 alone decides
    _testing.advance(15001); // past ttl + stale in L1's clock
    assert.equal(await f(1), 2); // computed for the caller, not served stale
    assert.equal(f.stats().refreshes, 0);
  });

  test('a reader without stale takes a stale entry for a miss', async () => {
    const ns = namespace();
    const calls = [];
    const fn = async function g(x) {
      calls.push(x);
      return calls.length;
    };
    const writer = redisMemo(fn, { namespace: ns, ttl: 600000, stale: 600000 });
    assert.equal(await writer(1), 1);
    const early = redisMemo(fn, { namespace: ns, ttl: 600000 });
    assert.equal(await early(1), 1); // fresh (PTTL above the stale window): read
    await raw.pExpire(await onlyName(ns), 300000);
    const plain = redisMemo(fn, { namespace: ns, ttl: 600000 });
    assert.equal(await plain(1), 2); // in its stale window: computed
    assert.equal(plain.stats().l2_misses, 1);
  });

  test('a refresh that rejects keeps the stale value, is counted and reported', async () => {
    const ns = namespace();
    const reported = [];
    let calls = 0;
    const f = redisMemo(
      async () => {
        calls++;
        if (calls > 1) throw new Error(`refresh ${calls} failed`);
        return 'old';
      },
      { namespace: ns, ttl: 10000, stale: 5000, onRefreshError: (e) => reported.push(e.message) },
    );
    assert.equal(await f(1), 'old');
    _testing.advance(10001);
    for (const expected of [2, 3]) {
      assert.equal(await f(1), 'old'); // each stale read after a failure may retry, one at a time
      await _testing.refreshes(f);
      assert.equal(calls, expected);
    }
    assert.deepEqual(reported, ['refresh 2 failed', 'refresh 3 failed']);
    const s = f.stats();
    assert.equal(s.refreshErrors, 2);
    assert.equal(s.refreshes, 0);
    assert.notEqual(await openedOf(ns), 'corrupt'); // Redis keeps the old entry
    await raw.unlink(await onlyName(ns)); // its window ends in Redis (expired) ...
    _testing.advance(5000); // ... and in L1: the caller waits on a fresh call
    await assert.rejects(f(1), /refresh 4 failed/);
  });

  test('delete() forgets a refresh in flight', async () => {
    const ns = namespace();
    let calls = 0;
    let release;
    const gate = new Promise((resolve) => {
      release = resolve;
    });
    const f = redisMemo(
      async () => {
        calls++;
        if (calls === 2) await gate;
        return calls;
      },
      { namespace: ns, ttl: 10000, stale: 5000 },
    );
    assert.equal(await f(1), 1);
    _testing.advance(10001);
    assert.equal(await f(1), 1); // a refresh starts, held
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await f.delete(1), true);
    assert.equal(await f(1), 3); // computed anew
    release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await f(1), 3); // the refresh's late value (2) was stored nowhere
    assert.equal(f.stats().refreshes, 0);
  });

  test('earlyRefresh: the XFetch rule on the remaining PTTL and the compute time', async () => {
    const ns = namespace();
    let calls = 0;
    const fn = async function slow(x) {
      calls++;
      _testing.advance(20000); // the computation takes 20 s of the injected clock
      return calls;
    };
    const opts = { namespace: ns, ttl: 600000, earlyRefresh: 1 };
    const writer = redisMemo(fn, opts);
    assert.equal(await writer(1), 1);
    const opened = await openedOf(ns);
    assert.deepEqual(opened.fields, [0, 20000000]); // no stale window; delta 20 s in us
    await raw.pExpire(await onlyName(ns), 50000); // 50 s left (real time: seconds of margin)
    // -ln(1 - u) * delta * beta >= remaining: u = 0.9 gives 46 s < 50 s, no refresh.
    _testing.setRandom(() => 0.9);
    const r1 = redisMemo(fn, opts);
    assert.equal(await r1(1), 1);
    await _testing.refreshes(r1);
    assert.equal(calls, 1);
    // u = 0.95: 59.9 s >= 50 s: the value at once, one refresh in the background.
    _testing.setRandom(() => 0.95);
    const r2 = redisMemo(fn, opts);
    assert.equal(await r2(1), 1);
    await _testing.refreshes(r2);
    assert.equal(calls, 2);
    assert.equal(r2.stats().earlyRefreshes, 1);
    assert.equal(await r2(1), 2);
  });

  test('earlyRefresh on L1 hits', async () => {
    const ns = namespace();
    let calls = 0;
    const f = redisMemo(
      async () => {
        calls++;
        _testing.advance(1000); // delta: 1 s
        return calls;
      },
      { namespace: ns, ttl: 10000, earlyRefresh: 1 },
    );
    assert.equal(await f(1), 1); // fresh until 10 s after it was stored
    _testing.advance(7000); // 3 s left
    _testing.setRandom(() => 0.9); // 2.3 s < 3 s: no refresh
    assert.equal(await f(1), 1);
    await _testing.refreshes(f);
    assert.equal(calls, 1);
    _testing.setRandom(() => 0.96); // 3.2 s >= 3 s
    assert.equal(await f(1), 1);
    await _testing.refreshes(f);
    assert.equal(calls, 2);
    assert.equal(await f(1), 2);
    assert.equal(f.stats().earlyRefreshes, 1);
  });

  test('bad freshness options name the parameter', () => {
    const url = server.url;
    const cases = [
      [{ stale: 5 }, TYPE, /stale need\(s\) a ttl/],
      [{ ttl: 5, stale: -1 }, RANGE, /stale must be/],
      [{ ttl: 5, earlyRefresh: 0 }, RANGE, /earlyRefresh must be a finite number > 0/],
      [{ ttl: 5, onRefreshError: () => {} }, TYPE, /onRefreshError applies with/],
      [{ ttl: 5, stale: 1, onRefreshError: 3 }, TYPE, /onRefreshError must be a function/],
    ];
    for (const [opts, code, message] of cases) {
      assert.throws(() => memoize(async () => 1, { backend: 'redis', url, ...opts }), {
        code,
        message,
      });
    }
  });

  test('without freshness options entries carry no freshness fields', async () => {
    const ns = namespace();
    const f = redisMemo(async (x) => x, { namespace: ns, ttl: 10000 });
    assert.equal(await f(1), 1);
    const opened = await openedOf(ns);
    assert.equal(opened.flags, 0);
    assert.equal(opened.fields, null);
  });

  test('with singleFlight: a cold key is computed once; a stale one refreshes without the lease', async () => {
    const ns = namespace();
    let calls = 0;
    let release;
    const gate = new Promise((resolve) => {
      release = resolve;
    });
    const fn = async function flown(x) {
      calls++;
      if (calls === 1) await gate; // the leader: held until the other process waits on its lease
      return x * 10 + calls;
    };
    const opts = { namespace: ns, ttl: 600000, stale: 600000, singleFlight: true };
    const a = redisMemo(fn, opts); // two memoized copies stand for two processes
    const b = redisMemo(fn, opts);
    const leader = a(3);
    while (calls === 0) await new Promise((resolve) => setImmediate(resolve));
    const waiter = b(3);
    release();
    assert.deepEqual(await Promise.all([leader, waiter]), [31, 31]);
    assert.equal(calls, 1); // one computation for both
    assert.equal(b.stats().misses, 0);
    const name = await onlyName(ns);
    assert.equal(await raw.exists(lockName(name)), 0); // released
    const opened = await openedOf(ns);
    assert.equal(opened.flags & env.FLAG_FRESH, env.FLAG_FRESH); // the leader's value has fields
    assert.equal(opened.fields[0], 600000);
    // In its stale window, with another process's lease held: the refresh does not wait on it.
    await raw.pExpire(name, 300000);
    await raw.set(lockName(name), 'another-leader', { PX: 60000 });
    const c = redisMemo(fn, opts);
    assert.equal(await c(3), 31); // the stale value at once
    await _testing.refreshes(c);
    assert.equal(calls, 2);
    assert.equal(await c(3), 32);
    assert.equal(c.stats().refreshes, 1);
    const pttl = await raw.pTTL(name);
    assert.ok(pttl > 600000 && pttl <= 1200000, String(pttl)); // rewritten: ttl + stale
  });
});
