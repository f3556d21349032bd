'use strict';
// redis_memoize.js: memoize(fn, { backend: 'redis' }) (docs/redis.md, "Use (Node)"): an async
// function over a RedisCache of its own (redis.js), its entries named under the function's scope.
const env = require('./redis_envelope');
const options = require('./options');
const { makeError, typeError } = require('./errors');
const { encodeKey } = require('./keys');
const { clock } = require('./clock');
const { refresher, checkAtOf, earlyDue, REFRESHING } = require('./fresh');
const { RedisCache, CachedError, EntryKey, MISS, UNDEFINED, checkNames } = require('./redis');
const redisFlight = require('./redis_flight');

const MEMOIZE_OPTIONS = [
  'backend',
  'url',
  'client',
  'namespace',
  'ttl',
  'codec',
  'secret',
  'timeout',
  'key',
  'max',
  'maxBytes',
  'breakerThreshold',
  'breakerDelay',
  'ttlJitter',
  'cacheErrors',
  'errorTtl',
  'stale',
  'earlyRefresh',
  'onRefreshError',
  'coherent',
  'singleFlight',
  'lease',
  'cluster',
  'tls',
];

const NAME_MEMO_MAX = 4096; // lone string arguments whose entry key is remembered
let argsKey = null; // memoize.js's L1 key of an argument list (required lazily: no cycle)

// An async function that keeps fn's results in Redis under the function's scope, with its own
// RedisCache (L1 + L2). Results are keyed as the disk tier keys them (["twincache.fn/1", "node",
// name, source hash, [args]]); L1 by memoize.js's key of the arguments, so an L1 hit encodes and
// hashes nothing. Concurrent calls of one key share one Redis read and, on a miss, one call of fn.
// Rejections propagate uncached, but those `cacheErrors(err)` answers true for (negative caching:
// stored for `errorTtl` ms, default `ttl`; hits reject with a fresh Error of the same name,
// message and code). `stale`, `earlyRefresh`, `onRefreshError`: fresh.js's logic over Redis
// (docs/redis.md, "Freshness"): L1 then holds records { v, checkAt, freshUntil, delta }.
function memoizeRedis(fn, opts) {
  if (typeof fn !== 'function') throw typeError('fn', 'a function', fn);
  const o = checkNames(opts, MEMOIZE_OPTIONS);
  const userKey = options.optionalFunction('key', o.key);
  const cacheErrors = options.optionalFunction('cacheErrors', o.cacheErrors);
  const errorTtlOption = options.ttl('errorTtl', o.errorTtl);
  if (o.errorTtl !== undefined && cacheErrors === undefined) {
    throw makeError('invalid_argument', 'errorTtl applies with cacheErrors only');
  }
  const f = options.freshOptions({
    ttl: o.ttl,
    stale: o.stale,
    earlyRefresh: o.earlyRefresh,
    onRefreshError: o.onRefreshError,
  });
  // singleFlight: across processes too, through a lease in Redis (redis_flight.js).
  if (o.singleFlight !== undefined && typeof o.singleFlight !== 'boolean') {
    throw typeError('singleFlight', 'true or false', o.singleFlight);
  }
  if (o.lease !== undefined && o.singleFlight !== true) {
    throw makeError('invalid_argument', 'lease applies with singleFlight: true only');
  }
  const lease = o.singleFlight === true ? redisFlight.leaseOption(o.lease) : 0;
  const name = fn.name || '';
  const scope = env.functionScope(['twincache.fn/1', 'node', name]);
  const cache = new RedisCache(
    {
      url: o.url,
      client: o.client,
      namespace: o.namespace,
      ttl: o.ttl,
      codec: o.codec,
      secret: o.secret,
      timeout: o.timeout,
      l1: { max: o.max, maxBytes: o.maxBytes },
      breakerThreshold: o.breakerThreshold,
      breakerDelay: o.breakerDelay,
      ttlJitter: o.ttlJitter,
      coherent: o.coherent,
      cluster: o.cluster,
      tls: o.tls,
    },
    { scope },
  );
  cache._readErrors = cacheErrors !== undefined;
  const errorTtl = errorTtlOption === 0 ? cache._ttl : errorTtlOption;
  if (argsKey === null) argsKey = require('./memoize').argsKey;
  const identity = ['twincache.fn/1', 'node', name, require('./disk').sourceHash(fn)];
  const counts = { hits: 0, misses: 0 };
  const flights = new Map(); // entry key (latin1) -> the shared read-or-compute promise
  const fresh = f.stale > 0 || f.earlyRefresh > 0 ? freshness(f) : null;
  cache._fresh = fresh;

  // stale / earlyRefresh: one refresh per L1 key in flight (fresh.js's refresher), its value
  // written to Redis and L1; cache._fresh.record makes L1's records.
  function freshness({ stale, earlyRefresh: beta, onRefreshError }) {
    const fcounts = { refreshes: 0, refreshErrors: 0, earlyRefreshes: 0 };
    const r = refresher(fn, onRefreshError, fcounts, (l1Key, v, delta, isAsync, args) =>
      cache._setEntry(entryKeyOf(args), v, cache._ttl, l1Key, delta).catch(uncached),
    );
    return {
      stale,
      staleMs: Math.ceil(stale),
      beta,
      counts: fcounts,
      refreshing: r.refreshing,
      refresh: r.refresh,
      // The record of a value fresh for `ms` more (<= 0: stale now), computed in `delta` ms.
      record(v, ms, delta) {
        const now = clock.now();
        const freshUntil = now + ms;
        return { v, checkAt: checkAtOf(now, freshUntil, delta, beta), freshUntil, delta };
      },
    };
  }

  // A record's value; past its fresh time (or when XFetch fires) with one refresh in the
  // background, unless one is in flight.
  function freshValue(self, l1Key, args, rec) {
    const now = clock.now();
    if (now >= rec.freshUntil) {
      fresh.refresh(self, l1Key, args, true);
    } else if (earlyDue(now, rec, fresh.beta)) {
      fresh.counts.earlyRefreshes++;
      fresh.refresh(self, l1Key, args, true);
    }
    return rec.v;
  }

  // An L1 hit (a record, or a cached error) of a function with freshness.
  function freshHit(self, l1Key, args, v) {
    counts.hits++;
    if (v instanceof CachedError) return Promise.reject(v.toError());
    if (clock.now() < v.checkAt) return Promise.resolve(v.v);
    return Promise.resolve(freshValue(self, l1Key, args, v));
  }

  function uncached(err) {
    process.emitWarning(
      `twincache: the result of ${name || 'the function'}() cannot be stored in Redis ` +
        `(${err.message}); it is returned uncached`,
      { code: 'TWINCACHE_REDIS_UNCACHED' },
    );
  }

  // A lone string argument's entry key, encoded and hashed once (as RedisCache's string keys).
  const names = new Map();
  function entryKeyOf(args) {
    const lone = userKey === undefined && args.length === 1 && typeof args[0] === 'string';
    if (lone) {
      const known = names.get(args[0]);
      if (known !== undefined) return known;
    }
    const k = makeEntryKey(args);
    if (lone) {
      if (names.size >= NAME_MEMO_MAX) names.clear();
      names.set(args[0], k);
    }
    return k;
  }

  function makeEntryKey(args) {
    const parts = userKey === undefined ? args : [userKey(...args)];
    let encoded;
    try {
      encoded = encodeKey([...identity, parts]);
    } catch (err) {
      throw makeError(
        'invalid_argument',
        `the arguments of ${name || 'the function'}() cannot key a Redis cache entry: ${err.message}`,
      );
    }
    return new EntryKey(encoded, env.entryName(cache._namespace, encoded, scope));
  }

  // L1's key of a call: memoize.js's key of the arguments; null (use the entry key) with `key`
  // or arguments the encoding refuses.
  function l1KeyOf(args) {
    if (userKey !== undefined) return null;
    try {
      return argsKey(args);
    } catch {
      return null;
    }
  }

  // The end of a flight: later calls no longer join it.
  function land(k, flight) {
    if (flights.get(k.l1) === flight) flights.delete(k.l1);
  }

  // A call L1 missed: the Redis read, then on a miss the computation. An L2 hit settles in the
  // read's own promise layer (no async function, no .then() to land the flight: each is a
  // promise and a microtask on the L2 hit's path) and lands its flight then; a computation's
  // flight lands once it settles.
  function resolve(flight, k, l1Key, self, args) {
    return cache._fetchThen(
      k,
      l1Key,
      (v) => {
        if (v === MISS) {
          const computed = computeOrLead(flight, k, l1Key, self, args);
          const done = () => land(k, flight);
          computed.then(done, done);
          return computed;
        }
        land(k, flight);
        counts.hits++;
        if (v instanceof CachedError) throw v.toError();
        return fresh === null ? v : freshValue(self, l1Key, args, v);
      },
      () => land(k, flight),
    );
  }

  async function computeOrLead(flight, k, l1Key, self, args) {
    // The computation: this process's own, or the leader's under singleFlight (redis_flight.js);
    // with freshness its value is stored with its compute time (the record's delta).
    const compute = async () => {
      counts.misses++;
      // A refresh in flight (hanging, say) is forgotten: this computation's value is newer.
      if (fresh !== null) fresh.refreshing.delete(l1Key);
      const start = clock.now();
      let value;
      try {
        value = await fn.apply(self, args);
      } catch (err) {
        if (cacheErrors !== undefined && cacheErrors(err) === true) {
          if (flights.get(k.l1) === flight)
            await cache._setEntry(k, CachedError.of(err), errorTtl, l1Key);
        }
        throw err;
      }
      if (flights.get(k.l1) !== flight) return value; // invalidated meanwhile: not stored
      try {
        await cache._setEntry(k, value, cache._ttl, l1Key, clock.now() - start);
      } catch (err) {
        uncached(err);
      }
      return value;
    };
    if (lease === 0) return compute();
    const r = await redisFlight.lead(cache, k, l1Key, lease, compute);
    if (r.computed) return r.value;
    counts.hits++; // the leader's value (another process's, through Redis)
    if (r.value instanceof CachedError) throw r.value.toError();
    // With freshness the read gave a record (a stale one refreshes, in the background).
    return fresh === null ? r.value : freshValue(self, l1Key, args, r.value);
  }

  const l1 = cache._l1;
  const coh = cache._coh;
  function memoized(a) {
    // Fastest path: one number or plain string argument whose result L1 holds (its own key).
    let looked = false; // L1 was asked already (and missed): not asked, nor counted, twice
    if (arguments.length === 1 && userKey === undefined) {
      const t = typeof a;
      if (t === 'number' || (t === 'string' && a.charCodeAt(0) > 2)) {
        const v = l1.get(a);
        if (v !== undefined) {
          counts.hits++;
          if (v instanceof CachedError) return Promise.reject(v.toError());
          return Promise.resolve(v === UNDEFINED ? undefined : v);
        }
        looked = true;
      }
    }
    const args = Array.prototype.slice.call(arguments);
    return call(this, args, looked);
  }

  // With freshness: L1 holds records, which a hit checks against the clock.
  function memoizedFresh(a) {
    let looked = false;
    if (arguments.length === 1 && userKey === undefined) {
      const t = typeof a;
      if (t === 'number' || (t === 'string' && a.charCodeAt(0) > 2)) {
        // A live, fresh record: answered here with one clock read for the entry's TTL and the
        // record's check time, as fresh.js's memory hit (l1's own get() would read it again).
        // A cached error has no checkAt (the comparison is false). The rest: get(), freshHit.
        const slot = l1._map.get(a);
        if (slot !== undefined) {
          const now = clock.now();
          const e = l1._exp === null ? 0 : l1._exp[slot];
          const rec = l1._vals[slot];
          if ((e === 0 || e > now) && now < rec.checkAt) {
            l1._hits++;
            l1._touch(slot);
            counts.hits++;
            return Promise.resolve(rec.v);
          }
        }
        const v = l1.get(a);
        if (v !== undefined) return freshHit(this, a, [a], v);
        looked = true;
      }
    }
    const args = Array.prototype.slice.call(arguments);
    return call(this, args, looked);
  }

  function call(self, args, looked) {
    const lk = l1KeyOf(args);
    if (lk !== null && !looked) {
      const v = cache._l1Get(lk);
      if (v !== MISS && fresh !== null) return freshHit(self, lk, args, v);
      if (v !== MISS) {
        counts.hits++;
        return v instanceof CachedError ? Promise.reject(v.toError()) : Promise.resolve(v);
      }
    }
    let k;
    try {
      k = entryKeyOf(args);
    } catch (err) {
      return Promise.reject(err);
    }
    const l1Key = lk === null ? k.l1 : lk;
    if (lk === null) {
      const v = cache._l1Get(l1Key);
      if (v !== MISS && fresh !== null) return freshHit(self, l1Key, args, v);
      if (v !== MISS) {
        counts.hits++;
        return v instanceof CachedError ? Promise.reject(v.toError()) : Promise.resolve(v);
      }
    }
    const pending = flights.get(k.l1);
    // Coherent: a read that began before an invalidation of its name is not joined (its value may
    // be older than the write that was reported).
    if (pending !== undefined && (coh === null || !coh.stale(k.name, pending.epoch))) {
      counts.hits++; // joins the read (or computation) in flight
      return pending.promise;
    }
    const flight = { promise: null, epoch: coh === null ? 0 : coh.epoch };
    flights.set(k.l1, flight);
    flight.promise = resolve(flight, k, l1Key, self, args);
    return flight.promise;
  }

  // Removes the entry of these arguments (Redis and L1); resolves to whether either had it.
  async function invalidate(...args) {
    const k = entryKeyOf(args);
    flights.delete(k.l1); // a computation in flight still ends, but is not stored or joined
    const lk = l1KeyOf(args);
    if (fresh !== null) fresh.refreshing.delete(lk === null ? k.l1 : lk); // nor is a refresh's
    if (lk !== null) cache._l1.delete(lk);
    return cache._deleteEntry(k);
  }

  const memoizedFn = fresh === null ? memoized : memoizedFresh;
  Object.defineProperties(memoizedFn, {
    cache: { value: cache, enumerable: true },
    delete: { value: invalidate, enumerable: true },
    invalidate: { value: invalidate, enumerable: true },
    // Removes this function's entries (its scope: every version of its source) and empties L1.
    clear: {
      value: () => {
        flights.clear();
        if (fresh !== null) fresh.refreshing.clear();
        return cache.clear();
      },
      enumerable: true,
    },
    stats: {
      value: () => ({
        ...cache.stats(),
        hits: counts.hits,
        misses: counts.misses,
        ...(fresh === null ? {} : fresh.counts),
      }),
      enumerable: true,
    },
    close: { value: () => cache.close(), enumerable: true },
    [REFRESHING]: { value: fresh === null ? new Map() : fresh.refreshing },
  });
  return memoizedFn;
}

module.exports = { memoizeRedis };
