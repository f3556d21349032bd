'use strict';
// disk_fresh.js: memoize(fn, { backend: 'disk', stale, earlyRefresh, cacheErrors, ... })
// (docs/persistence.md, "Freshness on disk"): fresh.js's logic (freshCore) over the directory.
// Every entry is a record { v, e, checkAt, freshUntil, delta, err, async } (times on the disk
// tier's wall clock, so they mean the same in every process), stored for ttl (jittered) + stale
// ms: the row outlives the TTL by the stale window. On disk it is the array [v, checkAt,
// freshUntil, delta, err, async, e] (e only for a failure): a hit deserializes no property names. A promise result is stored once it resolves
// (v is its value, async says to hand out a promise); concurrent misses share one promise.
const { freshCore, REFRESHING } = require('./fresh');
const { encodeValue, MISS, wallNow, keyBytes } = require('./disk');

// keyOf(args): the function's key array; counts: the memo's { hits, misses }.
function freshCall(fn, o, cache, keyOf, counts) {
  const inflight = new Map(); // id -> the promise of a miss in flight

  function put(id, rec, ms) {
    const k = Buffer.from(id, 'latin1');
    let codec, data;
    try {
      const row = [
        rec.v,
        rec.checkAt,
        rec.freshUntil,
        rec.delta,
        rec.err ? 1 : 0,
        rec.async ? 1 : 0,
      ];
      if (rec.err) row.push(rec.e); // codec 'json' stores no undefined
      [codec, data] = encodeValue(cache._codec, row);
      cache._setBytes(k, codec, data, ms);
    } catch (err) {
      process.emitWarning(
        `twincache: the result of ${fn.name || 'a memoized function'}() cannot be stored on ` +
          `disk (${err && err.message}); it is returned uncached`,
        { code: 'TWINCACHE_DISK_UNCACHED' },
      );
      return null;
    }
    return rec;
  }

  function storeAsync(id, p, start) {
    const out = Promise.resolve(p).then(
      (x) => {
        if (inflight.get(id) === out) inflight.delete(id);
        core.storeValue(id, x, wallNow() - start, true);
        return x;
      },
      (err) => {
        if (inflight.get(id) === out) inflight.delete(id);
        if (core.wantsCached(err)) core.storeError(id, err, true);
        throw err;
      },
    );
    inflight.set(id, out);
    return out;
  }

  const core = freshCore(fn, o, {
    now: wallNow,
    put,
    storeAsync,
    resolved: (x) => x,
    valueOf: (rec) => (rec.async ? Promise.resolve(rec.v) : rec.v),
  });

  function call(self, args) {
    const k = keyBytes(keyOf(args));
    const a = cache._lookupBytes(k);
    if (a !== MISS) {
      counts.hits++;
      if (a[4] === 0 && wallNow() < a[1]) return a[5] === 1 ? Promise.resolve(a[0]) : a[0];
      const rec = {
        v: a[0],
        checkAt: a[1],
        freshUntil: a[2],
        delta: a[3],
        err: a[4] === 1,
        async: a[5] === 1,
        e: a[6],
      };
      return core.slowHit(self, k.latin1Slice(), args, rec);
    }
    counts.misses++;
    const id = k.latin1Slice();
    const pending = inflight.get(id);
    if (pending !== undefined) return pending;
    return core.miss(self, id, args);
  }

  return {
    call,
    counts: core.counts,
    refreshing: core.refreshing,
    REFRESHING,
    // A refresh in flight of this key (of every key) is forgotten: its result is not stored.
    forget(key) {
      if (key === undefined) {
        core.refreshing.clear();
        inflight.clear();
      } else {
        const id = keyBytes(key).latin1Slice();
        core.refreshing.delete(id);
        inflight.delete(id);
      }
    },
  };
}

module.exports = { freshCall };
