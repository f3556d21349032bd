'use strict';
// The Redis tier for Node on a Redis Cluster (issue 17; docs/redis.md, "Use (Node)"): a real
// cluster of 3 masters and 3 replicas (tests/node/redis_cluster.js). Values round-trip across
// slots (get, set, getMany, setMany, delete, clear) under the same entry names as on one server;
// seeds may be several URLs (a dead one is skipped) or a createCluster() client; coherence
// invalidates another cache's L1 on a cluster; and SIGKILL of the master of a key's slot: every
// call returns within its timeout (memoize returns computed values), and once the replica is
// promoted the caches recover by themselves (the coherent one listens to the new master). Runs
// native and TWINCACHE_PURE=1.
const { describe, it: test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { RedisCache, memoize } = require('../../node/lib');
const env = require('../../node/lib/redis_envelope');
const { slotOf } = require('../../node/lib/redis_cluster');
const { RedisCluster, skipReason, sleep } = require('./redis_cluster');

const skip = skipReason() || false;
const SECRET = 'cluster-tests-secret-0123456789ab';
const TIMEOUT = 300; // ms: what "returns within its timeout" is measured against
const SLACK = 250; // ms of scheduling slack on a loaded 2-core machine
const WAIT = 15000;

let cluster = null;
let ids = 0;
const closers = [];

async function until(cond, ms = WAIT) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
}

function opts(extra = {}) {
  return {
    url: cluster.urls,
    cluster: true,
    namespace: `cl${ids++}`,
    secret: SECRET,
    ttl: 600000,
    timeout: 2000, // generous where the test is not about timeouts (a loaded CI machine)
    breakerDelay: [50, 400],
    ...extra,
  };
}

function cache(extra) {
  const c = new RedisCache(opts(extra));
  closers.push(c);
  return c;
}

// Keys whose names fall in at least `n` different slots (and so on every master).
function keys(n) {
  return Array.from({ length: n }, (_, i) => `key-${i}`);
}

describe('RedisCache on a Redis Cluster', { skip }, () => {
  before(async () => {
    cluster = new RedisCluster();
    await cluster.start();
  });

  after(async () => {
    for (const c of closers) await c.close();
    if (cluster !== null) await cluster.stop();
  });

  test('values round-trip across slots, under the names of a single server', async () => {
    const a = cache();
    const b = new RedisCache({ ...opts(), namespace: a.namespace });
    closers.push(b);
    const ks = keys(40);
    const names = ks.map((k) => env.entryName(a.namespace, env.encodeEntryKey(k), null));
    const masters = new Set();
    for (const n of names) masters.add((await cluster.masterOf(n)).port);
    assert.equal(masters.size, 3, 'the keys spread over the three masters');
    for (const [i, k] of ks.entries()) assert.equal(await a.set(k, { i }), true);
    // The entry is where a plain client would look for it: on its slot's master, same name.
    const m = await cluster.masterOf(names[7]);
    assert.equal((await cluster.cmd(m.port, ['EXISTS', names[7]])).trim(), '1');
    assert.deepEqual(await b.get('key-7'), { i: 7 });
    const got = await b.getMany([...ks, 'absent']);
    assert.equal(got.size, 40);
    for (const [i, k] of ks.entries()) assert.deepEqual(got.get(k), { i });
    assert.equal(b.stats().l2_hits, 40);
    assert.equal(b.stats().l2_misses, 1);
    assert.equal(await b.setMany(ks.slice(0, 20).map((k) => [k, k.toUpperCase()])), true);
    const c = new RedisCache({ ...opts(), namespace: a.namespace });
    closers.push(c);
    const again = await c.getMany(ks);
    assert.equal(again.get('key-3'), 'KEY-3');
    assert.deepEqual(again.get('key-30'), { i: 30 });
    assert.equal(await c.delete('key-30'), true);
    assert.equal(
      await new RedisCache({ ...opts(), namespace: a.namespace }).get('key-30'),
      undefined,
    );
    assert.equal(await c.clear(), 39, 'clear() removed every entry, on every master');
    const d = new RedisCache({ ...opts(), namespace: a.namespace });
    closers.push(d);
    assert.equal((await d.getMany(ks)).size, 0);
    assert.equal(d.stats().l2_errors, 0);
  });

  test('slots are the cluster spec’s (CRC16 of the name or its hash tag)', async () => {
    for (const name of ['foo', 'twincache:abc', '{user1000}.following', 'x{}y']) {
      const port = cluster.ports[0];
      const slot = Number((await cluster.cmd(port, ['CLUSTER', 'KEYSLOT', name])).trim());
      assert.equal(slotOf(name), slot, name);
    }
  });

  test('a dead seed is skipped; a createCluster() client is used as it is', async () => {
    const dead = 'redis://127.0.0.1:1';
    const c = cache({ url: [dead, cluster.urls[2]] });
    assert.equal(await c.set('s', 1), true);
    assert.equal(await c.get('s'), 1);
    const { createCluster } = require('redis');
    const client = createCluster({
      rootNodes: [{ url: cluster.urls[1] }],
      defaults: { disableOfflineQueue: true },
    });
    client.on('error', () => {});
    await client.connect();
    const p = new RedisCache({ client, namespace: c.namespace, secret: SECRET, timeout: 2000 });
    assert.equal(await p.get('s'), 1, 'a cluster client passed in needs no cluster: true');
    assert.equal(await p.set('t', [1, 2]), true);
    assert.deepEqual(await c.get('t'), [1, 2]);
    await p.close();
    // Coherent on a client passed in: listeners made from its node options, one per master.
    const q = new RedisCache({ client, namespace: c.namespace, secret: SECRET, coherent: true });
    assert.equal(await q.waitCoherent(WAIT), true, 'a listener on every master');
    assert.deepEqual(await q.get('t'), [1, 2]);
    assert.deepEqual(await q.get('t'), [1, 2]);
    await c.set('t', 'changed');
    assert.equal(await until(async () => (await q.get('t')) === 'changed'), true);
    assert.ok(q.stats().invalidations >= 1);
    await q.close();
    assert.equal(client.isOpen, true, 'close() leaves a client passed in open');
    client.destroy();
  });

  test('bad input: typed errors naming the option', () => {
    const { createClient } = require('redis');
    const plain = createClient({ url: cluster.urls[0] });
    assert.throws(() => new RedisCache({ client: plain, cluster: true }), {
      name: 'TypeError',
      code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
      message:
        /^client must be a node-redis cluster client \(createCluster\(\)\) when cluster is true/,
    });
    assert.throws(() => new RedisCache({ url: cluster.urls }), {
      name: 'TypeError',
      code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
      message: /^url must be a string \(an array of seed URLs needs cluster: true\)/,
    });
    assert.throws(() => new RedisCache({ url: cluster.urls[0], cluster: 'yes' }), {
      name: 'TypeError',
      code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
      message: /^cluster must be a boolean/,
    });
    assert.throws(() => new RedisCache({ url: [], cluster: true }), {
      name: 'RangeError',
      code: 'ERR_TWINCACHE_OUT_OF_RANGE',
      message: 'url must hold 1 to 1000 seed URLs (got 0)',
    });
    assert.throws(() => new RedisCache({ url: 'unix:///tmp/r.sock', cluster: true }), {
      name: 'RangeError',
      code: 'ERR_TWINCACHE_OUT_OF_RANGE',
      message: 'url must be redis:// or rediss:// with cluster: true',
    });
    assert.throws(
      () => memoize(async () => 1, { backend: 'redis', url: [cluster.urls[0]], cluster: 1 }),
      { name: 'TypeError', code: 'ERR_TWINCACHE_INVALID_ARGUMENT', message: /^cluster must be/ },
    );
  });

  test('memoize on a cluster: one computation, then hits from another process’s copy', async () => {
    const namespace = `clm${ids++}`;
    let runs = 0;
    const make = () =>
      memoize(
        async function square(x) {
          runs++;
          return x * x;
        },
        { backend: 'redis', url: cluster.urls, cluster: true, namespace, secret: SECRET },
      );
    const f = make();
    const g = make(); // a second copy: its own L1, as another process
    closers.push(f, g);
    for (let i = 0; i < 10; i++) assert.equal(await f(i), i * i);
    for (let i = 0; i < 10; i++) assert.equal(await g(i), i * i);
    assert.equal(runs, 10);
    assert.equal(g.stats().hits, 10);
  });

  test('coherence on a cluster: a write through one cache evicts another’s L1', async () => {
    const a = cache({ coherent: true, timeout: 2000 });
    const b = new RedisCache({ ...opts({ timeout: 2000 }), namespace: a.namespace });
    closers.push(b);
    assert.equal(await a.waitCoherent(WAIT), true, 'a listener on every master');
    const ks = keys(12);
    for (const k of ks) await b.set(k, 1);
    for (const k of ks) assert.equal(await a.get(k), 1);
    for (const k of ks) assert.equal(await a.get(k), 1);
    assert.equal(a.stats().l1_hits >= 1, true, 'L1 holds them');
    for (const k of ks) await b.set(k, 2);
    const fresh = await until(async () => {
      for (const k of ks) if ((await a.get(k)) !== 2) return false;
      return true;
    });
    assert.equal(fresh, true, 'every slot’s write reached L1 (a listener per master)');
    assert.equal(a.stats().invalidations >= ks.length, true);
  });

  test('SIGKILL of a key’s master: calls return within their timeout; recovery by itself', async () => {
    const a = cache({ coherent: true, timeout: TIMEOUT });
    const namespace = a.namespace;
    const b = new RedisCache({ ...opts({ timeout: TIMEOUT }), namespace });
    closers.push(b);
    let runs = 0;
    const f = memoize(
      async function twice(x) {
        runs++;
        return 2 * x;
      },
      {
        backend: 'redis',
        url: cluster.urls,
        cluster: true,
        namespace,
        secret: SECRET,
        timeout: TIMEOUT,
        breakerDelay: [50, 400],
      },
    );
    closers.push(f);
    assert.equal(await a.waitCoherent(WAIT), true);
    assert.equal(await b.set('victim', 'before'), true);
    assert.equal(await f(21), 42);
    const name = env.entryName(namespace, env.encodeEntryKey('victim'), null);
    const master = await cluster.masterOf(name);
    await cluster.kill(master.port);

    // While the master is down (and until the replica takes over): every call returns in time.
    // Each call's time, less the time the event loop was held up meanwhile (a 10 ms ticker: on a
    // loaded machine the process itself waits for a CPU, which no code of ours causes).
    let worst = 0;
    let slowest = '';
    let lag = 0;
    let last = Date.now();
    const ticker = setInterval(() => {
      const now = Date.now();
      lag += Math.max(0, now - last - 10);
      last = now;
    }, 10);
    // rounds: the L2 round trips the call makes (memoize on a miss: the read, then the write).
    const timed = async (p, what, rounds = 1) => {
      const t = Date.now();
      lag = 0;
      last = t;
      const v = await p;
      lag += Math.max(0, Date.now() - last - 10); // a hold-up that ended just before
      const took = Date.now() - t - Math.max(0, lag) - (rounds - 1) * TIMEOUT;
      if (took > worst) {
        worst = took;
        slowest = `${what}: ${Date.now() - t} ms, the loop held up ${lag} ms`;
      }
      return v;
    };
    // Arguments until one falls on the dead master's slots (2/3 of them do not: at most 60).
    const failures = () => f.cache.stats().l2_errors + f.cache.stats().l2_skipped;
    for (let i = 0; i < 60 && (i < 5 || failures() === 0); i++) {
      await timed(b.set('victim', `during-${i}`), `set ${i}`);
      const fresh = new RedisCache({ ...opts({ timeout: TIMEOUT }), namespace });
      await timed(fresh.get('victim'), `get ${i}`);
      await timed(b.getMany(['victim', 'other']), `getMany ${i}`);
      const v = await timed(f(100 + i), `memoize ${i}`, 2);
      assert.equal(v, 200 + 2 * i, 'memoize returns computed values');
    }
    assert.ok(failures() > 0, 'memoize met the dead master');
    clearInterval(ticker);
    assert.ok(worst <= TIMEOUT + SLACK, `the slowest call took ${worst} ms (${slowest})`);
    assert.ok(b.stats().l2_errors + b.stats().l2_skipped > 0, 'the failures were counted');

    const promoted = await cluster.waitMaster(name, master.port);
    assert.notEqual(promoted.port, master.port);
    // Recovery by itself: writes reach Redis again, a fresh cache reads them.
    const recovered = await until(async () => (await b.set('victim', 'after')) === true);
    assert.equal(recovered, true, 'writes reach the promoted replica');
    const c = new RedisCache({ ...opts(), namespace });
    closers.push(c);
    assert.equal(await c.get('victim'), 'after');
    assert.equal(
      await until(async () => (await f(21)) === 42 && f.stats().hits > 0),
      true,
      'memoize reads Redis again',
    );
    // The coherent cache listens to the new master: a write there evicts its L1.
    assert.equal(await a.waitCoherent(WAIT), true, 'listeners rebuilt on the new topology');
    const held = await until(async () => {
      const hits = a.stats().l1_hits;
      return (
        (await a.get('victim')) === 'after' &&
        (await a.get('victim')) === 'after' &&
        a.stats().l1_hits > hits
      );
    });
    assert.equal(held, true, 'L1 keeps it again (its master is listened to)');
    const invalidations = a.stats().invalidations;
    await b.set('victim', 'later');
    assert.equal(await until(async () => (await a.get('victim')) === 'later'), true);
    assert.ok(a.stats().invalidations > invalidations, 'evicted by an invalidation message');
    if (process.env.TWINCACHE_TEST_VERBOSE)
      console.log({ worst, slowest, b: b.stats(), f: f.stats() });
  });
});
