'use strict';
// L1 coherence of the Redis tier for Node (issue 17; docs/redis.md, "Coherence"): a coherent
// RedisCache or memoize(fn, { backend: 'redis', coherent: true }) drops L1 entries that another
// cache, or any other program (a plain SET or DEL), writes or deletes in Redis; empties L1 on
// FLUSHDB and when its invalidation connection is killed, subscribes again after that, and does
// not keep a read's value that raced an invalidation. Against a real redis-server of this file's
// own (tests/node/redis_server.js). Runs native and TWINCACHE_PURE=1.
//
// Invalidations arrive on another connection, so the tests wait for their effect (polling with a
// generous limit, never asserting a duration: latency is measured by bench/redis).
const { describe, it: test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { RedisCache, memoize, _testing } = require('../../node/lib');
const env = require('../../node/lib/redis_envelope');
const { RedisServer, Proxy, skipReason, sleep } = require('./redis_server');

const skip = skipReason() || false;
const SECRET = 'coherence-tests-secret-0123456789';
const TIMEOUT = 2000; // generous: these tests are about results, not speed
const WAIT = 10000; // the longest an invalidation may take to show (far above any real latency)

let server = null;
let raw = null; // a plain client, as another program
let ids = 0;
const closers = [];

// Polls cond() (sync or async) until it holds or WAIT ms passed; whether it held.
async function until(cond) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
}

function base(namespace) {
  return { url: server.url, namespace, secret: SECRET, ttl: 600000, timeout: TIMEOUT };
}

// A coherent cache and a plain one on a fresh namespace (the coherent one subscribed).
async function caches(opts = {}) {
  const namespace = `coh${ids++}`;
  const coherent = new RedisCache({ ...base(namespace), coherent: true, ...opts });
  const plain = new RedisCache({ ...base(namespace), coherent: false });
  closers.push(coherent, plain);
  assert.equal(await coherent.waitCoherent(WAIT), true, 'the invalidation listener subscribed');
  return [coherent, plain];
}

// Reads key until L1 holds it (a read that raced an invalidation is not kept): whether it does.
async function heldInL1(c, key, value) {
  return until(async () => {
    const before = c.stats().l1_hits;
    const a = await c.get(key);
    const b = await c.get(key);
    return a === value && b === value && c.stats().l1_hits > before;
  });
}

function nameOf(namespace, key) {
  return env.entryName(namespace, env.encodeEntryKey(key), null);
}

// Runs write() and waits until c received the invalidation of each of keys it caused (so that
// it cannot come later and disturb what the test counts).
async function delivered(c, keys, write) {
  const since = c._coh.epoch;
  await write();
  for (const key of keys) {
    const name = nameOf(c.namespace, key);
    assert.ok(await until(() => (c._coh._recent.get(name) ?? -1) > since), `${key}'s message`);
  }
}

describe('coherent L1 against a real redis-server', { skip }, () => {
  before(async () => {
    server = new RedisServer();
    await server.start();
    raw = await server.client();
  });
  after(async () => {
    for (const c of closers) await c.close();
    if (raw !== null) raw.destroy();
    if (server !== null) await server.stop();
  });

  test('a write or a delete by another cache evicts the L1 copy', async () => {
    const [c, plain] = await caches();
    await delivered(c, ['k'], () => plain.set('k', 'v1'));
    assert.ok(await heldInL1(c, 'k', 'v1'));
    assert.ok(await heldInL1(plain, 'k', 'v1'));
    const writer = new RedisCache({ ...base(c.namespace), coherent: false });
    closers.push(writer);
    await writer.set('k', 'v2');
    assert.ok(await until(() => c.stats().l1_items === 0), 'the coherent L1 copy was dropped');
    assert.equal(await c.get('k'), 'v2');
    assert.equal(await plain.get('k'), 'v1', 'a cache without coherence keeps its stale copy');
    assert.ok(c.stats().invalidations >= 1);
    assert.ok(await heldInL1(c, 'k', 'v2'), 'and the new value is kept in L1 again');
    await writer.delete('k');
    assert.ok(await until(() => c.stats().l1_items === 0), 'the delete reached it');
    assert.equal(await c.get('k'), undefined);
  });

  test('a coherent cache over a client passed in (its duplicate listens)', async () => {
    const { createClient } = require('redis');
    const client = createClient({ url: server.url });
    client.on('error', () => {});
    await client.connect();
    try {
      const [c, plain] = await caches({ url: undefined, client });
      await plain.set('k', 1);
      assert.ok(await heldInL1(c, 'k', 1));
      await plain.set('k', 2);
      assert.ok(await until(async () => (await c.get('k')) === 2));
      await c.close();
      assert.equal(client.isReady, true, 'close() leaves the client passed in open');
    } finally {
      client.destroy();
    }
  });

  test('a plain SET or DEL by another program evicts', async () => {
    const [c, plain] = await caches();
    await delivered(c, ['a', 'b'], () =>
      plain.setMany([
        ['a', 1],
        ['b', 2],
      ]),
    );
    assert.ok((await heldInL1(c, 'a', 1)) && (await heldInL1(c, 'b', 2)));
    await raw.sendCommand(['DEL', nameOf(c.namespace, 'a')]);
    await raw.sendCommand(['SET', nameOf(c.namespace, 'b'), 'not an envelope']);
    assert.ok(await until(() => c.stats().l1_items === 0));
    assert.equal(await c.get('a'), undefined);
    assert.equal(await c.get('b'), undefined);
    assert.equal(c.stats().l2_corrupt, 1, 'b: read again from Redis, refused there');
    assert.equal(c.stats().invalidations, 2);
  });

  test("another namespace's writes do not reach it", async () => {
    const [c, plain] = await caches();
    await delivered(c, ['k'], () => plain.set('k', 1));
    assert.ok(await heldInL1(c, 'k', 1));
    const invalidations = c.stats().invalidations;
    // `coh<n>0` shares the prefix `coh<n>` but not `coh<n>:` (the prefix ends with ':').
    const hash = nameOf(c.namespace, 'k').split(':')[1];
    await delivered(c, ['canary'], async () => {
      await raw.sendCommand(['SET', `${c.namespace}0:${hash}`, 'x']);
      await raw.sendCommand(['SET', nameOf(c.namespace, 'canary'), 'x']);
    });
    assert.equal(c.stats().invalidations, invalidations);
    assert.equal(c.stats().l1_items, 1);
    assert.ok(await heldInL1(c, 'k', 1));
  });

  test('FLUSHDB and a killed invalidation connection flush L1; it subscribes again', async () => {
    const [c, plain] = await caches();
    await plain.set('k', 'v');
    assert.ok(await heldInL1(c, 'k', 'v'));
    let flushes = c.stats().l1_flushes;
    await raw.sendCommand(['FLUSHDB']);
    assert.ok(await until(() => c.stats().l1_flushes > flushes && c.stats().l1_items === 0));
    const hits = c.stats().l1_hits;
    await plain.set('k', 'w');
    assert.ok(await heldInL1(c, 'k', 'w'));
    assert.ok(c.stats().l1_hits > hits, 'a flush keeps the counters');
    flushes = c.stats().l1_flushes;
    const connections = c._coh.listener.connections;
    const killed = await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    assert.ok(killed >= 1);
    assert.ok(
      await until(() => c.stats().l1_flushes > flushes),
      'L1 flushed when the link dropped',
    );
    assert.equal(c.stats().l1_items, 0);
    assert.equal(await c.waitCoherent(WAIT), true, 'and the listener subscribed again');
    assert.ok(c._coh.listener.connections > connections);
    assert.ok(await heldInL1(c, 'k', 'w'));
    await plain.set('k', 'x'); // tracking was turned on again for the new connection
    assert.ok(await until(() => c.stats().l1_items === 0), 'invalidations reach it again');
    assert.equal(await c.get('k'), 'x');
  });

  test('a silently dropped invalidation connection is found by its PING and flushes L1', async () => {
    const proxy = await new Proxy(server.port).listen();
    try {
      // timeout 300 ms: a PING gets max(2 s, 4 x timeout) to be answered.
      const [c, plain] = await caches({ url: proxy.url, timeout: 300 });
      await delivered(c, ['k'], () => plain.set('k', 'v'));
      assert.ok(await heldInL1(c, 'k', 'v'));
      const flushes = c.stats().l1_flushes;
      proxy.blackhole = true; // no reset, no byte: only the heartbeat can tell
      assert.ok(await until(() => c.stats().l1_flushes > flushes), 'L1 flushed');
      assert.equal(c.stats().l1_items, 0);
      assert.equal(c._coh.ready, false);
      proxy.blackhole = false;
      assert.equal(await c.waitCoherent(WAIT), true, 'subscribed again');
    } finally {
      await proxy.close();
    }
  });

  test('a read that raced an invalidation is returned, not kept', async () => {
    const [c, plain] = await caches();
    await delivered(c, ['k'], () => plain.set('k', 'v'));
    // As if a write's invalidation came before the reply: the reply may hold the older value.
    // Injected as each reply is opened (get and getMany alike), after the read began.
    const opened = c._opened.bind(c);
    let inject = null;
    c._opened = (...args) => {
      inject();
      return opened(...args);
    };
    inject = () => c._coh._invalidated(c, [c._entryKey('k').name]);
    assert.equal(await c.get('k'), 'v');
    assert.equal(c.stats().l1_items, 0, 'returned, not kept');
    assert.equal((await c.getMany(['k'])).get('k'), 'v');
    assert.equal(c.stats().l1_items, 0, 'getMany: not kept either');
    inject = () => c._coh._invalidated(c, [`${c.namespace}:another`]); // no reason to refuse it
    assert.equal(await c.get('k'), 'v');
    assert.equal(c.stats().l1_items, 1, 'kept');
    // A flush (nil message, or a lost connection) while a read is out refuses every name.
    await delivered(c, ['k'], () => c.delete('k'));
    await delivered(c, ['k'], () => plain.set('k', 'v2'));
    inject = () => c._coh._invalidated(c, null);
    assert.equal(await c.get('k'), 'v2');
    assert.equal(c.stats().l1_items, 0);
    delete c._opened;
    assert.ok(await heldInL1(c, 'k', 'v2'));
  });

  test("a cache's first call waits for the listener's first subscription", async () => {
    const namespace = `coh${ids++}`;
    const plain = new RedisCache({ ...base(namespace), coherent: false });
    closers.push(plain);
    await plain.set('k', 'v');
    const c = new RedisCache(base(namespace)); // coherent by default
    closers.push(c);
    assert.equal(c.stats().coherence, 'on');
    // Its first read is sent once subscribed (bounded by timeout): its value is kept.
    assert.equal(await c.get('k'), 'v');
    assert.equal(c.stats().l1_items, 1);
    assert.equal(await c.waitCoherent(0), true);
  });

  test("a cache's own write evicts its own L1 copy (one more L2 read)", async () => {
    const [c] = await caches();
    await c.set('k', 'mine');
    assert.ok(await until(() => c.stats().invalidations === 1), 'its own invalidation came');
    assert.equal(c.stats().l1_items, 0);
    const l2 = c.stats().l2_hits;
    assert.equal(await c.get('k'), 'mine');
    assert.equal(c.stats().l2_hits, l2 + 1);
    assert.ok(await heldInL1(c, 'k', 'mine'));
  });

  test('memoize(fn, { coherent: true }): another invalidate reaches its L1', async () => {
    const namespace = `cohf${ids++}`;
    let calls = 0;
    async function price(item) {
      calls++;
      return 10 * item;
    }
    const opts = {
      backend: 'redis',
      url: server.url,
      namespace,
      secret: SECRET,
      ttl: 600000,
      timeout: TIMEOUT,
    };
    const coherent = memoize(price, { ...opts, coherent: true });
    const plain = memoize(price, { ...opts, coherent: false });
    closers.push(coherent, plain);
    assert.equal(await coherent.cache.waitCoherent(WAIT), true);
    assert.equal(await plain(1), 10);
    assert.equal(calls, 1);
    assert.ok(
      await until(async () => (await coherent(1)) === 10 && coherent.stats().l1_items === 1),
    );
    const hits = coherent.stats().l1_hits;
    assert.equal(await coherent(1), 10);
    assert.equal(coherent.stats().l1_hits, hits + 1, 'served by L1');
    await plain.invalidate(1); // UNLINK in Redis
    assert.ok(await until(() => coherent.stats().l1_items === 0), 'the delete reached its L1');
    assert.equal(await coherent(1), 10);
    assert.equal(calls, 2, 'so it computes again');
  });

  test('memoize: a call does not join a read that began before an invalidation', async () => {
    const namespace = `cohf${ids++}`;
    const fn = async (x) => x;
    const opts = {
      backend: 'redis',
      url: server.url,
      namespace,
      secret: SECRET,
      ttl: 600000,
      timeout: TIMEOUT,
    };
    const f = memoize(fn, { ...opts, coherent: true });
    closers.push(f);
    assert.equal(await f.cache.waitCoherent(WAIT), true);
    await f.cache._l1.clear();
    const l2 = f.stats().l2_misses + f.stats().l2_hits;
    const first = f(7);
    const joined = f(7); // no invalidation in between: joins
    f.cache._coh._invalidated(f.cache, ['any-name-but-a-flush']);
    f.cache._coh._invalidated(f.cache, null); // a flush: every name
    const after = f(7); // a read of its own
    assert.deepEqual(await Promise.all([first, joined, after]), [7, 7, 7]);
    assert.equal(f.stats().l2_misses + f.stats().l2_hits - l2, 2, 'two reads, not one');
  });

  test('bad input: coherent must be a boolean; a url or a node-redis client', async () => {
    const check = (fn, message) =>
      assert.throws(fn, (err) => {
        assert.ok(err instanceof TypeError);
        assert.equal(err.code, 'ERR_TWINCACHE_INVALID_ARGUMENT');
        assert.equal(err.message, message);
        return true;
      });
    check(
      () => new RedisCache({ url: server.url, secret: SECRET, coherent: 'yes' }),
      "coherent must be a boolean (got string 'yes')",
    );
    check(
      () => memoize(async () => 1, { backend: 'redis', url: server.url, coherent: 1 }),
      'coherent must be a boolean (got number 1)',
    );
    const notAClient = { sendCommand: async () => null };
    check(
      () => new RedisCache({ client: notAClient, secret: SECRET, coherent: true }),
      'coherent: true needs a url or a node-redis client (createClient())',
    );
    const c = new RedisCache({
      url: server.url,
      secret: SECRET,
      timeout: TIMEOUT,
      coherent: false,
    });
    closers.push(c);
    assert.equal(await c.waitCoherent(10), false, 'not coherent');
    assert.equal(c.stats().coherence, 'off');
    const other = new RedisCache({ client: notAClient, secret: SECRET }); // the default: off
    closers.push(other);
    assert.match(other.stats().coherence, /^off: the client passed in is not a node-redis client/);
  });

  // Connections subscribed to the invalidation channel (CLIENT LIST: sub=1).
  async function listenerConnections() {
    const list = String(await raw.sendCommand(['CLIENT', 'LIST']));
    return list.split('\n').filter((line) => / sub=1 /.test(line)).length;
  }

  test('caches share one listener connection per server, closed with the last', async () => {
    for (const c of closers.splice(0)) await c.close();
    assert.ok(await until(async () => (await listenerConnections()) === 0), 'none left over');
    const ns = `share${ids++}`;
    const a = new RedisCache(base(ns)); // coherent by default
    const b = new RedisCache(base(`${ns}b`));
    const a2 = new RedisCache(base(ns));
    const f = memoize(async (x) => 2 * x, { ...base(`${ns}f`), backend: 'redis' });
    assert.equal(await f(2), 4);
    for (const c of [a, b, a2, f.cache]) assert.equal(await c.waitCoherent(WAIT), true);
    assert.equal(await listenerConnections(), 1, 'one for four namespaces');
    const plain = new RedisCache({ ...base(ns), coherent: false });
    closers.push(plain);
    await plain.set('k', 'v1');
    assert.ok(await heldInL1(a, 'k', 'v1'));
    await plain.set('k', 'v2'); // each namespace gets its own names only
    assert.ok(await until(async () => (await a.get('k')) === 'v2'));
    assert.equal(b.stats().invalidations, 0);
    assert.equal(await listenerConnections(), 1, 'coherent: false opens none');
    await a.close();
    await b.close();
    assert.equal(await listenerConnections(), 1, 'still used by a2 and f');
    await a2.close();
    await f.close();
    assert.ok(await until(async () => (await listenerConnections()) === 0), 'closed with the last');
    const again = new RedisCache(base(ns));
    assert.equal(await again.waitCoherent(WAIT), true, 'made anew');
    assert.equal(await listenerConnections(), 1);
    await again.close();
    assert.ok(await until(async () => (await listenerConnections()) === 0));
  });

  test('the listener never keeps a process alive', () => {
    const { spawnSync } = require('node:child_process');
    const code = `
      const { RedisCache } = require(${JSON.stringify(require.resolve('../../node/lib'))});
      const c = new RedisCache({ url: ${JSON.stringify(server.url)}, secret: 'x'.repeat(16) });
      c.waitCoherent(10000).then((ok) => console.log(ok));`;
    const started = Date.now();
    const done = spawnSync(process.execPath, ['-e', code], { timeout: 20000, encoding: 'utf8' });
    assert.equal(done.status, 0, done.stderr);
    assert.equal(done.stdout.trim(), 'true', 'it subscribed, then the process ended by itself');
    assert.ok(Date.now() - started < 10000);
  });

  test('overlapping prefixes: the shortest is tracked', () => {
    const { cover } = require('../../node/lib/redis_coherence');
    assert.deepEqual(cover(['app:', 'app:f1:', 'b:', 'app2:', 'b:']), ['app2:', 'app:', 'b:']);
    assert.deepEqual(cover(['a:b:', 'a:']), ['a:']);
  });

  test('Redis down at construction: no throw, no hang; calls resolve', async () => {
    const started = Date.now();
    const c = new RedisCache({ url: 'redis://127.0.0.1:1/0', secret: SECRET, timeout: 200 });
    assert.equal(c.stats().coherence, 'on');
    assert.equal(await c.get('k'), undefined);
    assert.ok(Date.now() - started < 2000);
    _testing.useManualClock(1_000_000);
    try {
      await c.set('k', 1, { ttl: 600_000 }); // not subscribed: kept in L1 for DETACHED_MS at most
      assert.equal(await c.get('k'), 1);
      assert.equal(c.stats().l1_hits, 1);
      _testing.advance(999);
      assert.equal(await c.get('k'), 1);
      assert.equal(c.stats().l1_hits, 2);
      _testing.advance(2); // past 1 s: gone from L1, whatever the entry's own ttl
      assert.equal(await c.get('k'), undefined);
      assert.equal(c.stats().l1_hits, 2);
    } finally {
      _testing.useRealClock();
      await c.close();
    }
  });
});
