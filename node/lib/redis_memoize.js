'use strict';
// redis_memoize.js: memoize(fn, { backend: 'redis' }) (docs/redis.md, "Use (Node)"): an async
// function over a RedisCache of its own (redis.js), its entries named under the function's scope.
const env = require('./redis_envelope');
const options = require('./options');
const { makeError, typeError } = require('./errors');
const { encodeKey } = require('./keys');
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
  'coherent',
  'singleFlight',
  'lease',
];

const NAME_MEMO_MAX = 4096; // lone string arguments whose entry key is remembered
let argsKey = null; // memoize.js's L1 key of an argument list (required lazily: no cycle)

// An async function that keeps fn's results in Redis under the function's scope, with its own
// RedisCache (L1 + L2). Results are keyed as the disk tier keys them (["twincache.fn/1", "node",
// name, source hash, [args]]); L1 by memoize.js's key of the arguments, so an L1 hit encodes and
// hashes nothing. Concurrent calls of one key share one Redis read and, on a miss, one call of fn.
// Rejections propagate uncached, but those `cacheErrors(err)` answers true for (negative caching:
// stored for `errorTtl` ms, default `ttl`; hits reject with a fresh Error of the same name,
// message and code).
function memoizeRedis(fn, opts) {
  if (typeof fn !== 'function') throw typeError('fn', 'a function', fn);
  const o = checkNames(opts, MEMOIZE_OPTIONS);
  const userKey = options.optionalFunction('key', o.key);
  const cacheErrors = options.optionalFunction('cacheErrors', o.cacheErrors);
  const errorTtlOption = options.ttl('errorTtl', o.errorTtl);
  if (o.errorTtl !== undefined && cacheErrors === undefined) {
    throw makeError('invalid_argument', 'errorTtl applies with cacheErrors only');
  }
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
    },
    { scope },
  );
  cache._readErrors = cacheErrors !== undefined;
  const errorTtl = errorTtlOption === 0 ? cache._ttl : errorTtlOption;
  if (argsKey === null) argsKey = require('./memoize').argsKey;
  const identity = ['twincache.fn/1', 'node', name, require('./disk').sourceHash(fn)];
  const counts = { hits: 0, misses: 0 };
  const flights = new Map(); // entry key (latin1) -> the shared read-or-compute promise

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

  async function resolve(flight, k, l1Key, self, args) {
    const v = await cache._fetch(k, l1Key);
    if (v !== MISS) {
      counts.hits++;
      if (v instanceof CachedError) throw v.toError();
      return v;
    }
    const compute = async () => {
      counts.misses++;
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
        await cache._setEntry(k, value, cache._ttl, l1Key);
      } catch (err) {
        process.emitWarning(
          `twincache: the result of ${name || 'the function'}() cannot be stored in Redis ` +
            `(${err.message}); it is returned uncached`,
          { code: 'TWINCACHE_REDIS_UNCACHED' },
        );
      }
      return value;
    };
    if (lease === 0) return compute();
    const r = await redisFlight.lead(cache, k, l1Key, lease, compute);
    if (!r.computed) {
      counts.hits++; // the leader's value (another process's, through Redis)
      if (r.value instanceof CachedError) throw r.value.toError();
    }
    return r.value;
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

  function call(self, args, looked) {
    const lk = l1KeyOf(args);
    if (lk !== null && !looked) {
      const v = cache._l1Get(lk);
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
    const forget = () => {
      if (flights.get(k.l1) === flight) flights.delete(k.l1);
    };
    flight.promise = resolve(flight, k, l1Key, self, args);
    flight.promise.then(forget, forget);
    return flight.promise;
  }

  // Removes the entry of these arguments (Redis and L1); resolves to whether either had it.
  async function invalidate(...args) {
    const k = entryKeyOf(args);
    flights.delete(k.l1); // a computation in flight still ends, but is not stored or joined
    const lk = l1KeyOf(args);
    if (lk !== null) cache._l1.delete(lk);
    return cache._deleteEntry(k);
  }

  Object.defineProperties(memoized, {
    cache: { value: cache, enumerable: true },
    delete: { value: invalidate, enumerable: true },
    invalidate: { value: invalidate, enumerable: true },
    // Removes this function's entries (its scope: every version of its source) and empties L1.
    clear: {
      value: () => {
        flights.clear();
        return cache.clear();
      },
      enumerable: true,
    },
    stats: {
      value: () => ({ ...cache.stats(), hits: counts.hits, misses: counts.misses }),
      enumerable: true,
    },
    close: { value: () => cache.close(), enumerable: true },
  });
  return memoized;
}

module.exports = { memoizeRedis };
