'use strict';
// Single flight across processes for Node (docs/redis.md, "Single flight across processes"; issue
// 17): the lease (SET <entry name>:lock <token> NX PX <lease>), waiters that get the leader's
// value, takeover once a lease expires, compare-and-delete that never deletes another leader's
// lock, and fail-open when Redis does not answer. Two RedisCache objects (or two memoized copies
// of one function) stand for two processes: they share nothing but Redis. The 4-process,
// 2-language test is tests/cross/redis_flight.py. Against this file's own redis-server; native and
// TWINCACHE_PURE=1.
const { describe, it: test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { RedisCache, memoize } = require('../../node/lib');
const env = require('../../node/lib/redis_envelope');
const { lockName } = require('../../node/lib/redis_flight');
const { RedisServer, skipReason, sleep } = require('./redis_server');

const skip = skipReason() || false;
const SECRET = 'flight-secret-0123456789abcdef';
let server = null;
let raw = null;
let ids = 0;
const caches = [];

function pair(opts = {}) {
  const namespace = `fl${ids++}`;
  const make = () => {
    const c = new RedisCache({
      url: server.url,
      namespace,
      secret: SECRET,
      timeout: 2000,
      ...opts,
    });
    caches.push(c);
    return c;
  };
  return [make(), make()];
}

function lockOf(cache, key) {
  return lockName(env.entryName(cache.namespace, env.encodeEntryKey(key), null));
}

// A promise and its resolve function: the test's own synchronisation.
function gate() {
  let open;
  const p = new Promise((r) => {
    open = r;
  });
  return { p, open };
}

async function until(condition, limit = 10000) {
  const deadline = Date.now() + limit;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await sleep(2);
  }
  return true;
}

describe('single flight across processes (Node)', { skip }, () => {
  before(async () => {
    server = new RedisServer();
    await server.start();
    raw = await server.client();
  });
  after(async () => {
    for (const c of caches) await c.close();
    if (raw !== null) raw.destroy();
    if (server !== null) await server.stop();
  });
  afterEach(() => {
    if (server.paused) server.resume();
  });

  test('a waiter gets the leader value; the lease is released', async () => {
    const [a, b] = pair();
    const computing = gate();
    const release = gate();
    let calls = 0;
    const first = a.fetch('k', async () => {
      calls++;
      computing.open();
      await release.p;
      return 'from a';
    });
    await computing.p;
    assert.equal(await raw.exists(lockOf(a, 'k')), 1); // held while a computes
    const second = b.fetch('k', async () => 'from b');
    release.open();
    assert.deepEqual(await Promise.all([first, second]), ['from a', 'from a']);
    assert.equal(calls, 1);
    assert.equal(await raw.exists(lockOf(a, 'k')), 0); // released after the value was stored
    assert.ok(b.stats().l2_hits >= 1);
    assert.equal(await b.fetch('k', async () => 'never'), 'from a'); // an L1 hit now
  });

  test('25 concurrent fetches in each of two caches compute once', async () => {
    const [a, b] = pair();
    let calls = 0;
    let arrived = 0;
    const loader = async (key) => {
      calls++;
      await until(() => arrived === 50); // every caller is in fetch before the value exists
      return { key, v: 1 };
    };
    const all = [];
    for (let i = 0; i < 25; i++) {
      for (const c of [a, b]) {
        arrived++;
        all.push(c.fetch('cold', loader));
      }
    }
    const results = await Promise.all(all);
    assert.equal(calls, 1);
    assert.deepEqual(
      new Set(results.map((r) => JSON.stringify(r))),
      new Set(['{"key":"cold","v":1}']),
    );
  });

  test('a dead leader lease is taken over once it expires', async () => {
    const [c] = pair();
    const lock = lockOf(c, 'orphan');
    await raw.set(lock, 'a-leader-that-died', { PX: 60000 }); // gone: no renewal, no release
    let calls = 0;
    const sets = (await server.commandCalls()).set || 0;
    const p = c.fetch('orphan', async () => ++calls, { lease: 5000 });
    // It waits while the lease lives: two SET NX tried, nothing computed, the lock not touched.
    assert.ok(await until(async () => ((await server.commandCalls()).set || 0) >= sets + 2));
    assert.equal(calls, 0);
    assert.equal(String(await raw.get(lock)), 'a-leader-that-died');
    await raw.pExpire(lock, 1); // the dead leader's lease runs out
    assert.equal(await p, 1);
    assert.equal(calls, 1);
    assert.equal(await raw.exists(lock), 0);
    assert.equal(await c.get('orphan'), 1);
  });

  test('a taken-over leader does not release its successor lease', async () => {
    const [a, b] = pair();
    const lock = lockOf(a, 'k');
    const aComputing = gate();
    const aRelease = gate();
    const bComputing = gate();
    const bRelease = gate();
    const fa = a.fetch('k', async () => {
      aComputing.open();
      await aRelease.p;
      return 'a';
    });
    await aComputing.p;
    await raw.del(lock); // as if a's lease expired (a stalled leader)
    const fb = b.fetch('k', async () => {
      bComputing.open();
      await bRelease.p;
      return 'b';
    });
    await bComputing.p; // b took over
    const bToken = String(await raw.get(lock));
    aRelease.open();
    assert.equal(await fa, 'a');
    assert.equal(String(await raw.get(lock)), bToken); // a's compare-and-delete left it alone
    bRelease.open();
    await fb;
    assert.equal(await raw.exists(lock), 0);
  });

  test('a leader renews its lease while it computes', async () => {
    const [a, b] = pair();
    const lock = lockOf(a, 'long');
    const computing = gate();
    const release = gate();
    const fa = a.fetch(
      'long',
      async () => {
        computing.open();
        await release.p;
        return 'long';
      },
      { lease: 300 },
    );
    await computing.p;
    const token = String(await raw.get(lock));
    await sleep(900); // three leases of Redis's (real) clock
    assert.equal(String(await raw.get(lock)), token); // extended, not expired
    const fb = b.fetch('long', async () => 'b', { lease: 300 });
    release.open();
    assert.deepEqual(await Promise.all([fa, fb]), ['long', 'long']);
  });

  test('Redis down: fail open, computed once in the process', async () => {
    const c = new RedisCache({
      url: server.url,
      namespace: `fl${ids++}`,
      secret: SECRET,
      timeout: 100,
    });
    caches.push(c);
    server.pause(); // SIGSTOP: connections accepted, nothing answers
    let calls = 0;
    const results = await Promise.all(
      Array.from({ length: 10 }, () => c.fetch('down', async () => ++calls)),
    );
    assert.deepEqual(results, Array(10).fill(1));
    assert.equal(calls, 1);
    assert.ok(c.stats().l2_errors >= 1);
  });

  test('memoized copies of one function compute once', async () => {
    const namespace = `fl${ids++}`;
    let calls = 0;
    const release = gate();
    const computing = gate();
    const make = () => {
      const f = memoize(
        async function report(x) {
          calls++;
          computing.open();
          await release.p;
          return [x, x];
        },
        {
          backend: 'redis',
          url: server.url,
          namespace,
          secret: SECRET,
          timeout: 2000,
          singleFlight: true,
        },
      );
      caches.push(f);
      return f;
    };
    const [f, g] = [make(), make()];
    const p1 = Promise.all([f(3), f(3)]);
    await computing.p;
    const p2 = Promise.all([g(3), g(3)]);
    release.open();
    assert.deepEqual(
      [...(await p1), ...(await p2)],
      [
        [3, 3],
        [3, 3],
        [3, 3],
        [3, 3],
      ],
    );
    assert.equal(calls, 1);
    assert.equal(g.stats().misses, 0);
  });

  test('bad options', async () => {
    const opts = { backend: 'redis', url: 'redis://127.0.0.1:1/0', codec: 'json' };
    assert.throws(() => memoize(async () => 1, { ...opts, singleFlight: true, lease: 0 }), {
      name: 'RangeError',
      code: 'ERR_TWINCACHE_OUT_OF_RANGE',
      message: 'lease must be a number of milliseconds in (0, 3600000] (got 0)',
    });
    assert.throws(() => memoize(async () => 1, { ...opts, lease: 10 }), {
      name: 'TypeError',
      message: 'lease applies with singleFlight: true only',
    });
    assert.throws(() => memoize(async () => 1, { ...opts, singleFlight: 'yes' }), {
      name: 'TypeError',
      code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
    });
    const c = new RedisCache({ url: 'redis://127.0.0.1:1/0', codec: 'json', timeout: 50 });
    caches.push(c);
    await assert.rejects(c.fetch('k', 1), {
      name: 'TypeError',
      code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
    });
    await assert.rejects(
      c.fetch('k', async () => 1, { lease: -1 }),
      { name: 'RangeError' },
    );
    await assert.rejects(
      c.fetch('k', async () => 1, { nope: 1 }),
      { name: 'TypeError' },
    );
  });
});
