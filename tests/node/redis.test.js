'use strict';
// The Redis tier for Node (docs/redis.md) against a real redis-server of this file's own (no
// mocks): RedisCache's reads, writes, TTLs, namespaces, scripts and envelopes as Redis holds
// them, tampered entries, bad input, and memoize(fn, { backend: 'redis' }). Runs native and
// TWINCACHE_PURE=1 (L1 is then the pure Cache). Expiry is driven by the injected clock.
const { describe, it: test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { RedisCache, memoize, _testing } = require('../../node/lib');
const env = require('../../node/lib/redis_envelope');
const { RedisServer, skipReason } = require('./redis_server');

const skip = skipReason() || false;
const SECRET = 'redis-tests-secret-0123456789abcdef';
const TIMEOUT = 2000; // generous: these tests are about results, not speed
const RANGE = 'ERR_TWINCACHE_OUT_OF_RANGE';
const TYPE = 'ERR_TWINCACHE_INVALID_ARGUMENT';

let server = null;
let raw = null; // a plain client, to look at what the caches wrote
const caches = [];

// Every name matching a SCAN pattern.
async function scanNames(pattern) {
  const names = [];
  let cursor = '0';
  do {
    const [next, batch] = await raw.sendCommand(['SCAN', cursor, 'MATCH', pattern]);
    cursor = String(next);
    names.push(...batch.map(String));
  } while (cursor !== '0');
  return names;
}

// coherent: false unless asked: these tests count L1 hits after a cache's own writes, which a
// coherent cache gives up (docs/redis.md, "Coherence"; tested in redis_coherence.test.js).
function make(opts = {}) {
  const c = new RedisCache({
    url: server.url,
    secret: SECRET,
    timeout: TIMEOUT,
    coherent: false,
    ...opts,
  });
  caches.push(c);
  return c;
}

describe('RedisCache and memoize against a real redis-server', { skip }, () => {
  before(async () => {
    server = new RedisServer();
    await server.start();
    raw = await server.client();
  });
  after(async () => {
    for (const c of caches) await c.close();
    if (raw !== null) raw.destroy();
    if (server !== null) await server.stop();
    _testing.useRealClock();
  });
  afterEach(() => _testing.useRealClock());

  test('set, get, has, delete: L1 and Redis', async () => {
    const c = make({ namespace: 'basic', ttl: 60000 });
    assert.equal(await c.get('user:1'), undefined);
    assert.equal(await c.set('user:1', { name: 'Ada' }), true);
    assert.deepEqual(await c.get('user:1'), { name: 'Ada' }); // from L1
    const other = make({ namespace: 'basic' });
    assert.deepEqual(await other.get('user:1'), { name: 'Ada' }); // from Redis
    assert.equal(await other.has('user:1'), true);
    assert.equal(await other.has('absent'), false);
    const s = other.stats();
    assert.deepEqual([s.l2_hits, s.l2_misses, s.l1_hits, s.hits, s.misses], [1, 1, 1, 2, 1]);
    // The entry's name is the spec's (docs/redis.md: the key "user:1").
    const name = 'basic:d716a158abe4a05e98404850f492647f';
    assert.equal(await raw.exists(name), 1);
    assert.equal(await c.delete('user:1'), true);
    assert.equal(await raw.exists(name), 0);
    assert.equal(await c.get('user:1'), undefined);
    assert.equal(await c.delete('user:1'), false);
    assert.equal(c.stats().deletes, 2);
  });

  test('values: null, undefined (v8), Buffers raw, numbers and keys of every kind', async () => {
    const c = make({ namespace: 'values' });
    await c.set('null', null);
    await c.set(['list', 1], 'by a list key');
    await c.set(42, Buffer.from([0, 1, 255]));
    const fresh = make({ namespace: 'values' });
    assert.equal(await fresh.get('null'), null);
    assert.equal(await fresh.has('null'), true);
    assert.equal(await fresh.get(['list', 1]), 'by a list key');
    assert.deepEqual(await fresh.get(42), Buffer.from([0, 1, 255]));
    const stored = await raw.get(env.entryName('values', env.encodeEntryKey(42)));
    assert.equal(stored[1], env.CODEC_RAW);
    const v8 = make({ namespace: 'values8', codec: 'v8' });
    await v8.set('map', new Map([[1, new Date(5)]]));
    await v8.set('undef', undefined);
    const v8b = make({ namespace: 'values8', codec: 'v8' });
    assert.deepEqual(await v8b.get('map'), new Map([[1, new Date(5)]]));
    assert.equal(await v8b.has('undef'), true);
    assert.equal(await v8b.get('undef'), undefined);
    assert.equal(v8b.stats().l2_hits, 2);
  });

  test('TTL: PX in whole milliseconds rounded up; none without a ttl', async () => {
    const c = make({ namespace: 'ttl', ttl: 1500.2 });
    await c.set('a', 1);
    await c.set('b', 2, { ttl: 0.3 });
    const pa = await raw.pTTL(env.entryName('ttl', env.encodeEntryKey('a')));
    const pb = await raw.pTTL(env.entryName('ttl', env.encodeEntryKey('b')));
    assert.ok(pa > 1000 && pa <= 1501, `PTTL ${pa}`);
    assert.ok(pb >= -2 && pb <= 1, `PTTL ${pb}`); // PX 1
    const forever = make({ namespace: 'ttl' });
    await forever.set('c', 3);
    assert.equal(await raw.pTTL(env.entryName('ttl', env.encodeEntryKey('c'))), -1);
  });

  test("L1 keeps an entry no longer than Redis's remaining TTL", async () => {
    _testing.useManualClock(1000);
    const writer = make({ namespace: 'l1ttl' });
    await writer.set('k', 'v', { ttl: 60000 });
    await raw.pExpire(env.entryName('l1ttl', env.encodeEntryKey('k')), 5000);
    const reader = make({ namespace: 'l1ttl' });
    assert.equal(await reader.get('k'), 'v'); // L2 hit: L1 keeps it for PTTL (<= 5000 ms)
    _testing.advance(4000);
    assert.equal(await reader.get('k'), 'v');
    assert.equal(reader.stats().l1_hits, 1);
    _testing.advance(1001);
    await raw.del(env.entryName('l1ttl', env.encodeEntryKey('k')));
    assert.equal(await reader.get('k'), undefined); // L1 expired with Redis's TTL
    // A write gives L1 the write's TTL exactly.
    await writer.set('w', 1, { ttl: 100 });
    _testing.advance(99);
    assert.equal(await writer.get('w'), 1);
    await raw.del(env.entryName('l1ttl', env.encodeEntryKey('w')));
    _testing.advance(1);
    assert.equal(await writer.get('w'), undefined);
  });

  test('a get reads with GET + PTTL; L1 keeps min(remaining PTTL, ttl); gone after GET: not kept', async () => {
    _testing.useManualClock(1000);
    const writer = make({ namespace: 'pipe' });
    await writer.set('k', 'v', { ttl: 60000 });
    await writer.set('gone', 'g', { ttl: 60000 });
    await writer.set('forever', 'f');
    const before = await server.commandCalls();
    const reader = make({ namespace: 'pipe', ttl: 1000 });
    assert.equal(await reader.get('k'), 'v');
    const after = await server.commandCalls();
    const delta = (cmd) => (after[cmd] || 0) - (before[cmd] || 0);
    assert.deepEqual(['get', 'pttl', 'mget', 'multi', 'exec'].map(delta), [1, 1, 0, 0, 0]);
    // The cache's ttl (1000 ms) caps Redis's 60 s; an entry without expiry gets the ttl too.
    assert.equal(await reader.get('forever'), 'f');
    _testing.advance(999);
    assert.deepEqual([await reader.get('k'), await reader.get('forever')], ['v', 'f']);
    assert.equal(reader.stats().l2_hits, 2);
    _testing.advance(1);
    assert.deepEqual([await reader.get('k'), await reader.get('forever')], ['v', 'f']);
    assert.equal(reader.stats().l2_hits, 4); // read again from Redis
    // An entry deleted between the GET and the PTTL (PTTL -2): its value is returned, not kept.
    const client = await server.client();
    const send = client.sendCommand.bind(client);
    const gone = env.entryName('pipe', env.encodeEntryKey('gone'));
    client.sendCommand = (args, o) =>
      args[0] === 'PTTL' && args[1] === gone
        ? raw.del(gone).then(() => send(args, o))
        : send(args, o);
    const racing = new RedisCache({ client, namespace: 'pipe', secret: SECRET, timeout: TIMEOUT });
    try {
      assert.equal(await racing.get('gone'), 'g');
      assert.equal(await racing.get('gone'), undefined); // not in L1, not in Redis
      assert.deepEqual([racing.stats().l2_hits, racing.stats().l2_misses], [1, 1]);
    } finally {
      await racing.close();
      client.destroy();
    }
  });

  test('getMany and setMany: one round trip each (MGET + PTTLs; SETs, pipelined)', async () => {
    const c = make({ namespace: 'many' });
    const before = await server.commandCalls();
    assert.equal(await c.setMany({ a: 1, b: [2], c: 'three' }, { ttl: 60000 }), true);
    const reader = make({ namespace: 'many' });
    const got = await reader.getMany(['a', 'b', 'c', 'zz']);
    assert.deepEqual(
      [...got],
      [
        ['a', 1],
        ['b', [2]],
        ['c', 'three'],
      ],
    );
    const after = await server.commandCalls();
    const delta = (cmd) => (after[cmd] || 0) - (before[cmd] || 0);
    assert.equal(delta('set'), 3);
    // One pipeline read the four names: MGET and a PTTL each; no transaction, no script, no GET.
    assert.deepEqual(
      ['multi', 'exec', 'mget', 'pttl', 'evalsha', 'eval', 'get'].map(delta),
      [0, 0, 1, 4, 0, 0, 0],
    );
    // Found in L1 now: no round trip.
    assert.deepEqual(
      [...(await reader.getMany(['a', 'c']))],
      [
        ['a', 1],
        ['c', 'three'],
      ],
    );
    assert.equal((await server.commandCalls()).mget, after.mget);
    const m = await reader.getMany(new Set(['b']));
    assert.deepEqual(m.get('b'), [2]);
    assert.equal(await c.setMany(new Map([[[1, 2], 'list key']])), true);
    assert.equal(await reader.get([1, 2]), 'list key');
  });

  test('a client of another kind reads with get.lua, again with EVAL after SCRIPT FLUSH', async () => {
    const c = make({ namespace: 'script' });
    await c.set('k', 1);
    await c.set('k2', [2]);
    await raw.sendCommand(['SCRIPT', 'FLUSH']);
    // Not a node-redis RedisClient (as a pool is not): its commands may not share a connection,
    // so no MULTI; the read is one EVALSHA (EVAL when the server lost the script).
    const other = {
      sendCommand: (...a) => raw.sendCommand(...a),
      connect: async () => {},
      get isOpen() {
        return raw.isOpen;
      },
      get isReady() {
        return raw.isReady;
      },
    };
    const before = await server.commandCalls();
    const reader = new RedisCache({ client: other, namespace: 'script', secret: SECRET });
    assert.equal(await reader.get('k'), 1);
    assert.deepEqual(
      [...(await reader.getMany(['k', 'k2', 'none']))],
      [
        ['k', 1],
        ['k2', [2]],
      ],
    );
    const after = await server.commandCalls();
    const delta = (cmd) => (after[cmd] || 0) - (before[cmd] || 0);
    // get: EVALSHA (NOSCRIPT), then EVAL; getMany (k from L1): one EVALSHA for k2 and none.
    assert.deepEqual(['eval', 'evalsha', 'multi'].map(delta), [1, 2, 0]);
    assert.equal(reader.stats().l2_errors, 0);
  });

  test('clear() removes its namespace only, with SCAN and UNLINK, never KEYS', async () => {
    const a = make({ namespace: 'app' });
    const a2 = make({ namespace: 'app2' });
    for (let i = 0; i < 2500; i++) await raw.set(`app:${i}`, 'x');
    await a.set('k', 1);
    await a2.set('k', 2);
    const before = await server.commandCalls();
    assert.equal(await a.clear(), 2501);
    const after = await server.commandCalls();
    assert.equal(after.keys || 0, before.keys || 0);
    assert.ok(after.scan >= (before.scan || 0) + 3 && after.unlink >= (before.unlink || 0) + 3);
    assert.equal(await a.get('k'), undefined);
    assert.equal(await a2.get('k'), 2);
    assert.equal(await make({ namespace: 'app2' }).get('k'), 2);
  });

  test('tampered, foreign and unreadable entries are counted misses, never values', async () => {
    const c = make({ namespace: 'tamper' });
    await c.set('k', { v: 1 });
    const name = env.entryName('tamper', env.encodeEntryKey('k'));
    const good = await raw.get(name);
    const bad = Buffer.from(good);
    bad[bad.length - 40] ^= 1;
    await raw.set(name, bad);
    const reader = make({ namespace: 'tamper' });
    assert.equal(await reader.get('k'), undefined);
    const otherSecret = make({ namespace: 'tamper', secret: 'another-secret-0123456789' });
    await raw.set(name, good);
    assert.equal(await otherSecret.get('k'), undefined);
    // Copied under another key's name: the MAC binds the name.
    const name2 = env.entryName('tamper', env.encodeEntryKey('k2'));
    await raw.set(name2, good);
    assert.equal(await reader.get('k2'), undefined);
    await raw.set(name, Buffer.from('not an envelope at all, but long enough to look like one'));
    assert.equal(await make({ namespace: 'tamper' }).get('k'), undefined);
    await raw.set(name, 'x');
    assert.equal(await make({ namespace: 'tamper' }).get('k'), undefined);
    const s = reader.stats();
    assert.deepEqual([s.l2_corrupt, s.l2_hits, s.misses], [2, 0, 2]);
    assert.equal(otherSecret.stats().l2_corrupt, 1);
    // A later envelope version is unreadable.
    const later = Buffer.from(good);
    later[0] = 2;
    await raw.set(name, later);
    const r2 = make({ namespace: 'tamper' });
    assert.equal(await r2.get('k'), undefined);
    assert.equal(r2.stats().l2_unreadable, 1);
    // A name holding another Redis type: MGET answers nil, a plain miss; the breaker stays closed.
    await raw.del(name);
    await raw.sendCommand(['LPUSH', name, 'x']);
    const r3 = make({ namespace: 'tamper', breakerThreshold: 1 });
    assert.equal(await r3.get('k'), undefined);
    const s3 = r3.stats();
    assert.deepEqual([s3.l2_misses, s3.l2_errors, s3.breaker], [1, 0, 'closed']);
  });

  test('bytes sent and received are counted', async () => {
    const c = make({ namespace: 'bytes' });
    await c.set('k', 'v');
    const name = env.entryName('bytes', env.encodeEntryKey('k'));
    const envelope = await raw.get(name);
    assert.equal(c.stats().bytes_sent, name.length + envelope.length);
    const r = make({ namespace: 'bytes' });
    await r.get('k');
    assert.deepEqual(
      [r.stats().bytes_sent, r.stats().bytes_received],
      [name.length, envelope.length],
    );
  });

  test('a value the codec refuses throws TypeError and changes nothing', async () => {
    const c = make({ namespace: 'refuse' });
    await c.set('k', 1);
    const message = "codec 'json' cannot store this value: the value is NaN; use codec 'v8'";
    await assert.rejects(c.set('k', NaN), { name: 'TypeError', code: TYPE, message });
    await assert.rejects(c.setMany({ a: 1, k: new Map() }), { name: 'TypeError', code: TYPE });
    assert.equal(await c.get('k'), 1);
    assert.equal(await c.get('a'), undefined);
    assert.equal(await make({ namespace: 'refuse' }).get('a'), undefined);
    assert.equal(c.stats().sets, 1);
    await assert.rejects(c.get(Symbol('s')), (err) => {
      assert.equal(err.name, 'TypeError');
      assert.match(err.message, /^key cannot name a Redis entry: /);
      return true;
    });
    assert.equal(await c.has(Symbol('s')), false);
  });

  test('bad options: typed errors naming the option, before anything is sent', () => {
    const bad = (opts, name, message) =>
      assert.throws(() => new RedisCache(opts), {
        name,
        code: name === 'TypeError' ? TYPE : RANGE,
        message,
      });
    const u = 'redis://h';
    bad(
      { url: u, namespace: 'a:b' },
      'RangeError',
      "namespace must be 1 to 64 characters from A-Z a-z 0-9 _ . - (got 'a:b')",
    );
    bad(
      { url: u, namespace: '' },
      'RangeError',
      "namespace must be 1 to 64 characters from A-Z a-z 0-9 _ . - (got '')",
    );
    bad(
      { url: u, namespace: 7 },
      'TypeError',
      'namespace must be a string of 1 to 64 characters from A-Z a-z 0-9 _ . - (got number 7)',
    );
    bad(
      { url: u, timeout: 0 },
      'RangeError',
      'timeout must be a number of milliseconds in (0, 3600000] (got 0)',
    );
    bad(
      { url: u, timeout: '1' },
      'TypeError',
      "timeout must be a number of milliseconds in (0, 3600000] (got string '1')",
    );
    bad({ url: u, codec: 'xml' }, 'RangeError', "codec must be 'json' or 'v8' (got 'xml')");
    bad(
      { url: 'http://host' },
      'RangeError',
      "url must be a redis://, rediss:// or unix:// URL (got string 'http://host')",
    );
    bad({ url: u, secret: 'short' }, 'RangeError', 'secret must be at least 16 bytes (got 5)');
    bad(
      { url: u, ttl: -1 },
      'RangeError',
      'ttl must be a finite number of milliseconds > 0 and <= 4e+12 (got -1)',
    );
    bad({ url: u, ttlJitter: 1 }, 'RangeError', 'ttlJitter must be a number in [0, 1) (got 1)');
    bad(
      { url: u, breakerThreshold: 0 },
      'RangeError',
      'breakerThreshold must be an integer in [1, 1000000] (got 0)',
    );
    bad(
      { url: u, breakerDelay: [5, 1] },
      'RangeError',
      'breakerDelay must be a [min, max] pair of milliseconds, 0 < min <= max <= 3600000 (got [5, 1])',
    );
    bad(
      { url: u, l1: { max: 0 } },
      'RangeError',
      'max must be an integer in [1, 9007199254740991] or Infinity (got 0)',
    );
    bad({ url: u, l1: { size: 1 } }, 'TypeError', "l1 must only name max, maxBytes (got 'size')");
    bad(
      { url: u, policy: 'lru' },
      'TypeError',
      "options must only name url, client, namespace, ttl, codec, secret, l1, timeout, breakerThreshold, breakerDelay, ttlJitter, coherent, cluster, tls (got 'policy')",
    );
    bad({ url: u, client: {} }, 'TypeError', 'pass url or client, not both');
    const saved = process.env.TWINCACHE_SECRET;
    delete process.env.TWINCACHE_SECRET;
    try {
      assert.throws(() => new RedisCache({ url: u, codec: 'v8' }), {
        name: 'TypeError',
        message:
          /^codec 'v8' over Redis needs a secret .* set TWINCACHE_SECRET, or use codec 'json'$/,
      });
      process.env.TWINCACHE_SECRET = 'short';
      assert.throws(() => new RedisCache({ url: u }), {
        message: 'TWINCACHE_SECRET must be at least 16 bytes (got 5)',
      });
    } finally {
      if (saved === undefined) delete process.env.TWINCACHE_SECRET;
      else process.env.TWINCACHE_SECRET = saved;
    }
    assert.throws(
      () => memoize(() => 1, { backend: 'redis', coherent: false, url: u, policy: 'lru' }),
      {
        name: 'TypeError',
        message: /^options must only name backend, url, .* \(got 'policy'\)$/,
      },
    );
  });

  test('a client passed in is used as it is, and close() leaves it open', async () => {
    const { createClient } = require('redis');
    const client = createClient({ url: server.url, disableOfflineQueue: true });
    client.on('error', () => {});
    await client.connect();
    const c = new RedisCache({ client, namespace: 'given', secret: SECRET });
    await c.set('k', [1]);
    assert.deepEqual(await make({ namespace: 'given' }).get('k'), [1]);
    await c.close();
    assert.equal(client.isReady, true);
    client.destroy();
  });

  test('ttlJitter shortens each write by up to that fraction, never lengthens', async () => {
    const c = make({ namespace: 'jitter', ttl: 100000, ttlJitter: 0.5 });
    const items = {};
    for (let i = 0; i < 30; i++) items[`k${i}`] = i;
    await c.setMany(items);
    const ttls = [];
    for (let i = 0; i < 30; i++)
      ttls.push(await raw.pTTL(env.entryName('jitter', env.encodeEntryKey(`k${i}`))));
    assert.ok(
      ttls.every((t) => t > 49000 && t <= 100000),
      String(ttls),
    );
    assert.ok(new Set(ttls.map((t) => Math.floor(t / 1000))).size > 3, 'spread out');
  });

  test('memoize: computed once, shared through Redis, invalidate and clear', async () => {
    let calls = 0;
    const opts = {
      backend: 'redis',
      coherent: false,
      url: server.url,
      secret: SECRET,
      timeout: TIMEOUT,
      ttl: 60000,
      namespace: 'memo',
    };
    async function rate(currency) {
      calls++;
      return { currency, rate: 1.1 };
    }
    const f = memoize(rate, opts);
    caches.push(f.cache);
    const [x, y] = await Promise.all([f('EUR'), f('EUR')]); // single flight
    assert.deepEqual(
      [x, y, calls],
      [{ currency: 'EUR', rate: 1.1 }, { currency: 'EUR', rate: 1.1 }, 1],
    );
    assert.deepEqual(await f('EUR'), { currency: 'EUR', rate: 1.1 }); // L1
    assert.deepEqual([f.stats().hits, f.stats().misses, f.stats().l1_hits], [2, 1, 1]);
    assert.equal(f.stats().l1_misses, 2); // the two first calls, each asking L1 once
    const g = memoize(rate, opts); // another process, the same function
    caches.push(g.cache);
    assert.deepEqual(await g('EUR'), { currency: 'EUR', rate: 1.1 });
    assert.deepEqual([calls, g.stats().l2_hits], [1, 1]);
    // Its name is under the function's scope: ["twincache.fn/1", "node", "rate"].
    const scope = env.functionScope(['twincache.fn/1', 'node', 'rate']);
    assert.equal((await scanNames(`memo:${scope}:*`)).length, 1);
    assert.equal(await g.invalidate('EUR'), true);
    assert.equal(await g('EUR').then(() => calls), 2);
    await f('USD');
    await f([1, { a: 2 }]);
    assert.equal(await f.clear(), 3);
    assert.equal(f.stats().l1_items, 0);
    await f('EUR');
    assert.equal(calls, 5);
  });

  test('memoize: key replaces the argument list; sync functions work too', async () => {
    let calls = 0;
    const byId = memoize(
      function user(u) {
        calls++;
        return { id: u.id, n: calls };
      },
      {
        backend: 'redis',
        coherent: false,
        url: server.url,
        secret: SECRET,
        timeout: TIMEOUT,
        namespace: 'memokey',
        key: (u) => u.id,
      },
    );
    caches.push(byId.cache);
    assert.deepEqual(await byId({ id: 7, extra: 'a' }), { id: 7, n: 1 });
    assert.deepEqual(await byId({ id: 7, extra: 'b' }), { id: 7, n: 1 }); // one key: id 7
    assert.deepEqual(await byId({ id: 8 }), { id: 8, n: 2 });
    assert.equal(await byId.invalidate({ id: 7 }), true);
    assert.deepEqual(await byId({ id: 7 }), { id: 7, n: 3 });
    await assert.rejects(byId(null), TypeError); // key() itself throws: rejected, not cached
  });

  test('memoize: a rejection is not cached; a result the codec refuses is returned uncached', async () => {
    let n = 0;
    const f = memoize(
      async function flaky(x) {
        n++;
        if (n === 1) throw new Error('boom');
        return x === 'nan' ? NaN : x;
      },
      {
        backend: 'redis',
        coherent: false,
        url: server.url,
        secret: SECRET,
        timeout: TIMEOUT,
        namespace: 'memo2',
      },
    );
    caches.push(f.cache);
    await assert.rejects(f('a'), { message: 'boom' });
    assert.equal(await f('a'), 'a');
    assert.equal(await f('a'), 'a');
    assert.equal(n, 2);
    const warned = new Promise((resolve) => process.once('warning', resolve));
    assert.ok(Number.isNaN(await f('nan')));
    assert.match((await warned).message, /the result of flaky\(\) cannot be stored in Redis/);
    assert.ok(Number.isNaN(await f('nan')));
    assert.equal(n, 4);
  });

  test('memoize: cacheErrors stores chosen rejections for errorTtl, shared through Redis', async () => {
    let calls = 0;
    async function lookup(id) {
      calls++;
      if (id === 'gone') {
        const e = new RangeError(`no user ${id}`);
        e.code = 'E_GONE';
        throw e;
      }
      throw new Error(`flaky ${id}`);
    }
    const opts = {
      backend: 'redis',
      coherent: false,
      url: server.url,
      secret: SECRET,
      timeout: TIMEOUT,
      ttl: 60000,
      errorTtl: 5000,
      namespace: 'memoerr',
      cacheErrors: (err) => err.code === 'E_GONE',
    };
    const f = memoize(lookup, opts);
    caches.push(f.cache);
    const want = { name: 'RangeError', message: 'no user gone', code: 'E_GONE' };
    await assert.rejects(f('gone'), want);
    await assert.rejects(f('gone'), want); // L1: fn not called again
    assert.equal(calls, 1);
    // Not chosen: not cached.
    await assert.rejects(f('other'), { message: 'flaky other' });
    await assert.rejects(f('other'), { message: 'flaky other' });
    assert.equal(calls, 3);
    // The entry: flag 0x02, Node's JSON record, PX of errorTtl (not ttl).
    const scope = env.functionScope(['twincache.fn/1', 'node', 'lookup']);
    const [name] = await scanNames(`memoerr:${scope}:*`);
    const opened = env.openEnvelope(Buffer.from(SECRET), name, null, await raw.get(name));
    assert.equal(opened.flags, env.FLAG_ERROR);
    assert.deepEqual(JSON.parse(opened.data.toString('utf8')), want);
    const pttl = await raw.pTTL(name);
    assert.ok(pttl > 4000 && pttl <= 5000, `PTTL ${pttl}`);
    // Another process with cacheErrors reads it from Redis: a fresh Error, fn not called.
    const g = memoize(lookup, opts);
    caches.push(g.cache);
    await assert.rejects(g('gone'), want);
    assert.deepEqual([calls, g.stats().l2_hits], [3, 1]);
    // One without cacheErrors, or a RedisCache, counts it unreadable: a miss, fn called.
    const { cacheErrors, errorTtl, ...plain } = opts;
    void cacheErrors;
    void errorTtl;
    const h = memoize(lookup, plain);
    caches.push(h.cache);
    await assert.rejects(h('gone'), want);
    assert.deepEqual([calls, h.stats().l2_unreadable], [4, 1]);
    // Bad options: typed, named.
    assert.throws(() => memoize(lookup, { ...plain, errorTtl: 5 }), {
      message: 'errorTtl applies with cacheErrors only',
    });
    assert.throws(() => memoize(lookup, { ...plain, cacheErrors: true }), TypeError);
  });
});
