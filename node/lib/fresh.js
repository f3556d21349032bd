'use strict';
// fresh.js: memoize(fn, { stale, ttlJitter, earlyRefresh, cacheErrors, errorTtl, onRefreshError })
// (docs/node.md, "Freshness"). memoize.js hands a function here only when one of these options is
// set: a function without them keeps memoize.js's call path unchanged.
//
// Every entry holds a record { v, checkAt, freshUntil, delta, err, async }. The cache keeps an
// entry for ttl (jittered) + stale ms. A hit before checkAt returns v at once; the others are
//   - a cached failure (err): thrown again, or rejected for a function that returned a promise;
//   - in the stale window (now >= freshUntil): v at once, and one refresh of the key in the
//     background (a promise; one per key, whatever the number of readers). A refresh that fails
//     keeps v (counted in refreshErrors, reported to onRefreshError, else process.emitWarning);
//     one that hangs blocks nobody; when the window ends, callers wait on a fresh call;
//   - close to expiry under earlyRefresh: the XFetch rule now - delta * beta * ln(u) >= expiry
//     (delta: the last computation's ms, u = 1 - random()) refreshes early, in the background.
const { argsKey } = require('./memoize');
const { MAX_ENTRY_WEIGHT } = require('./cache');
const { clock } = require('./clock');
const { typeError } = require('./errors');

// Under earlyRefresh, a hit checks the XFetch rule from freshUntil - EARLY_WINDOW * delta * beta
// on: before that, the rule fires with probability exp(-EARLY_WINDOW) (below 1e-8).
const EARLY_WINDOW = 20;

// U[0, 1) for XFetch and jitter; tests replace it (_testing.setRandom).
let random = Math.random;

const REFRESHING = Symbol('twincache: refreshes in flight');

// Refreshes wait here for the next microtask, all of them in one (a microtask per refresh would
// cost a stale read more than the rest of its work).
let queued = [];
const resolved = Promise.resolve();
function runQueued() {
  const batch = queued;
  queued = [];
  for (const token of batch) {
    try {
      token.run(token);
    } catch (err) {
      warnRefreshError('', err); // storing the result threw: the others still run
    }
  }
}
function schedule(token) {
  if (queued.push(token) === 1) resolved.then(runQueued);
}

// A TTL shortened by up to `jitter` of itself, at random: never longer than asked.
function jittered(ttl, jitter) {
  return jitter > 0 ? Math.max(1, ttl * (1 - jitter * random())) : ttl;
}

function isThenable(v) {
  return (
    v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function'
  );
}

function warnRefreshError(name, err) {
  process.emitWarning(`twincache: refreshing ${name || 'a memoized function'}() failed: ${err}`, {
    code: 'TWINCACHE_REFRESH_ERROR',
    detail: err && err.stack ? String(err.stack) : undefined,
  });
}

// When a record's hit must look again: its fresh time's end, or earlier under earlyRefresh (from
// there on the XFetch rule may fire).
function checkAtOf(now, freshUntil, delta, beta) {
  return beta > 0 && delta > 0
    ? Math.max(now, freshUntil - EARLY_WINDOW * delta * beta)
    : freshUntil;
}

// The XFetch rule: whether a hit at `now` of a record (freshUntil, delta) refreshes early.
function earlyDue(now, rec, beta) {
  return beta > 0 && now - rec.delta * beta * Math.log(1 - random()) >= rec.freshUntil;
}

// One refresh per key in flight, in the background, and the reporting of the failed ones: the
// part of this file freshCore and the Redis tier (redis_memoize.js) share. `store(key, v, delta,
// isAsync, args)` keeps a refresh's result; a promise it returns is awaited before the refresh
// has ended. `counts` gets refreshes and refreshErrors; `now()` is the clock (ms). Returns
// { refreshing, refresh(self, key, args, isAsync) }: `refreshing` maps a key to its refresh in
// flight (delete() and clear() forget them).
function refresher(fn, onRefreshError, counts, store, now = () => clock.now()) {
  const refreshing = new Map(); // key -> the refresh in flight: { settled, waiters, ... }

  function failed(err) {
    counts.refreshErrors++;
    if (onRefreshError !== undefined) {
      try {
        onRefreshError(err);
        return;
      } catch (why) {
        warnRefreshError(fn.name, why);
      }
    }
    warnRefreshError(fn.name, err);
  }

  // A microtask (no promise is made until fn returns one). `isAsync`: fn returned a promise last
  // time (readers then get a promise of the new value).
  function refresh(self, key, args, isAsync) {
    if (refreshing.has(key)) return;
    const token = { settled: false, waiters: null, run: null, self, key, args, isAsync };
    token.run = runRefresh;
    refreshing.set(key, token);
    schedule(token);
  }

  function runRefresh(token) {
    const { self, key, args, isAsync } = token;
    token.self = null;
    const start = now();
    let v;
    try {
      v = fn.apply(self, args);
    } catch (err) {
      refreshed(key, token, err, true, start, isAsync);
      return;
    }
    if (isThenable(v)) {
      v.then(
        (x) => refreshed(key, token, x, false, start, isAsync),
        (err) => refreshed(key, token, err, true, start, isAsync),
      );
    } else {
      refreshed(key, token, v, false, start, isAsync);
    }
  }

  function settle(token) {
    token.settled = true;
    if (token.waiters !== null) for (const w of token.waiters) w();
  }

  // Not stored (nor reported) when forgotten meanwhile: delete(), clear() or a fresh call.
  function refreshed(key, token, v, failure, start, isAsync) {
    const args = token.args;
    token.args = null;
    if (refreshing.get(key) === token) {
      refreshing.delete(key);
      if (failure) {
        failed(v);
      } else {
        counts.refreshes++;
        const p = store(key, v, now() - start, isAsync, args);
        if (isThenable(p)) {
          p.then(
            () => settle(token),
            () => settle(token),
          );
          return;
        }
      }
    }
    settle(token);
  }

  return { refreshing, refresh };
}

// The logic every backend shares (memory here, disk in disk.js): records, misses, refreshes and
// slow hits over `table`: { now() (ms), put(key, rec, ms) -> rec or null, storeAsync(key,
// thenable, start) -> what the caller gets, resolved(x) -> the v of a refreshed async result,
// valueOf(rec) -> what a hit returns }.
function freshCore(fn, o, table) {
  const ttl = o.ttl;
  const { stale, ttlJitter: jitter, earlyRefresh: beta, cacheErrors, onRefreshError } = o;
  const errorTtl = o.errorTtl === 0 ? ttl : o.errorTtl;
  const { now: clockNow, put } = table;
  const counts = { refreshes: 0, refreshErrors: 0, earlyRefreshes: 0, errorHits: 0 };
  const { refreshing, refresh } = refresher(
    fn,
    onRefreshError,
    counts,
    (key, v, delta, isAsync) => {
      storeValue(key, isAsync ? table.resolved(v) : v, delta, isAsync);
    },
    clockNow,
  );

  function record(v, delta, isAsync) {
    const life = jittered(ttl, jitter);
    const now = clockNow();
    const freshUntil = now + life;
    const checkAt = checkAtOf(now, freshUntil, delta, beta);
    // One shape for every record (a failure's too): the hit path's property reads stay
    // monomorphic.
    return {
      rec: { v, e: undefined, checkAt, freshUntil, delta, err: false, async: isAsync },
      life,
    };
  }

  function storeValue(key, v, delta, isAsync) {
    const { rec, life } = record(v, delta, isAsync);
    return put(key, rec, life + stale);
  }

  function storeError(key, e, isAsync) {
    put(
      key,
      { v: undefined, e, checkAt: 0, freshUntil: 0, delta: 0, err: true, async: isAsync },
      errorTtl,
    );
  }

  function wantsCached(err) {
    return cacheErrors !== undefined && cacheErrors(err) === true;
  }

  function miss(self, key, args) {
    refreshing.delete(key); // a refresh still in flight (hanging, say) is forgotten
    const start = clockNow();
    let v;
    try {
      v = fn.apply(self, args);
    } catch (err) {
      if (wantsCached(err)) storeError(key, err, false);
      throw err;
    }
    if (isThenable(v)) return table.storeAsync(key, v, start);
    storeValue(key, v, clockNow() - start, false);
    return v;
  }

  // A hit that needs more than its value (see the top of the file).
  function slowHit(self, key, args, rec) {
    if (rec.err) {
      counts.errorHits++;
      if (rec.async) return Promise.reject(rec.e);
      throw rec.e;
    }
    const now = clockNow();
    if (now >= rec.freshUntil) {
      refresh(self, key, args, rec.async);
    } else if (earlyDue(now, rec, beta)) {
      counts.earlyRefreshes++;
      refresh(self, key, args, rec.async);
    }
    return table.valueOf(rec);
  }

  return { miss, slowHit, storeValue, storeError, wantsCached, refreshing, counts };
}

// `o`: memoizeOptions(...) with at least one freshness option set; `Cache` the class memoize uses.
function freshMemoize(fn, o, Cache) {
  const cache = new Cache({ max: o.max, maxBytes: o.maxBytes, policy: o.policy });
  const map = cache._map;
  const userKey = o.key === undefined ? null : o.key;
  const beta = o.earlyRefresh;

  function keyOf(args) {
    if (userKey === null) return argsKey(args);
    const k = userKey.apply(undefined, args);
    if (typeof k !== 'string' && typeof k !== 'number') {
      throw typeError('key result', 'a string or a number', k);
    }
    return k;
  }

  // Stores a record for 'ms' ms (0: no TTL). Returns it, or null when too heavy to keep.
  function put(key, rec, ms) {
    const w = cache._weigh(key, rec);
    if (w > cache._maxBytes || w > MAX_ENTRY_WEIGHT) {
      cache._rejected++;
      return null;
    }
    cache._store(key, rec, w, ms);
    return rec;
  }

  // A promise result is stored as it is: once it settles, its record learns delta (resolved) or
  // becomes a cached failure or leaves (rejected) - unless a newer record replaced it.
  function storeAsync(key, p, start) {
    const rec = core.storeValue(key, p, 0, true);
    if (rec === null) return p;
    p.then(
      () => {
        const delta = clock.now() - start;
        rec.delta = delta;
        rec.checkAt = checkAtOf(start, rec.freshUntil, delta, beta);
      },
      (err) => {
        const s = map.get(key);
        if (s === undefined || cache._vals[s] !== rec) return;
        if (core.wantsCached(err)) core.storeError(key, err, true);
        else cache.delete(key);
      },
    );
    return p;
  }

  const core = freshCore(fn, o, {
    now: () => clock.now(),
    put,
    storeAsync,
    resolved: (x) => Promise.resolve(x),
    valueOf: (rec) => rec.v,
  });
  const { miss, slowHit, refreshing, counts } = core;

  function call(self, args) {
    const key = keyOf(args);
    const s = cache._live(key);
    if (s === -1) {
      cache._misses++;
      return miss(self, key, args);
    }
    cache._hits++;
    cache._touch(s);
    const rec = cache._vals[s];
    if (clock.now() < rec.checkAt) return rec.v;
    return slowHit(self, key, args, rec);
  }

  // Hot path: one number or plain string argument, cached and fresh.
  function memoized(a) {
    if (arguments.length === 1 && userKey === null) {
      const t = typeof a;
      if (t === 'number' || (t === 'string' && a.charCodeAt(0) > 2)) {
        const s = map.get(a);
        if (s !== undefined) {
          const now = clock.now();
          const e = cache._exp === null ? 0 : cache._exp[s];
          const rec = cache._vals[s];
          if ((e === 0 || e > now) && now < rec.checkAt) {
            cache._hits++;
            cache._touch(s);
            return rec.v;
          }
        }
      }
    }
    const n = arguments.length;
    const args = new Array(n);
    for (let i = 0; i < n; i++) args[i] = arguments[i];
    return call(this, args);
  }

  Object.defineProperties(memoized, {
    cache: { value: cache, enumerable: true },
    clear: {
      value: () => {
        refreshing.clear();
        cache.clear();
      },
      enumerable: true,
    },
    delete: {
      value: (...args) => {
        const key = keyOf(args);
        refreshing.delete(key);
        return cache.delete(key);
      },
      enumerable: true,
    },
    stats: { value: () => ({ ...cache.stats(), ...counts }), enumerable: true },
    [REFRESHING]: { value: refreshing },
  });
  return memoized;
}

// Private test hooks, merged into the package's _testing export (index.js).
const testing = {
  // Replaces the U[0, 1) source of earlyRefresh and ttlJitter (undefined: Math.random).
  setRandom(fn) {
    random = fn === undefined ? Math.random : fn;
  },
  // Settles when the refreshes of a memoized function in flight now have ended.
  refreshes(memoized) {
    const r = memoized[REFRESHING];
    const waits = [...(r === undefined ? [] : r.values())].map(
      (token) =>
        new Promise((resolve) => {
          if (token.settled) resolve();
          else (token.waiters ??= []).push(resolve);
        }),
    );
    return Promise.all(waits);
  },
};

module.exports = {
  freshMemoize,
  freshCore,
  refresher,
  checkAtOf,
  earlyDue,
  jittered,
  REFRESHING,
  testing,
};
