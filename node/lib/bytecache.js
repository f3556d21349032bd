'use strict';
// bytecache.js: ByteCache, the byte mode. Keys are strings; values are strings or binary data
// (Buffer / Uint8Array, returned as a fresh Buffer). In native mode keys and values live in the
// C++ core (addon ByteStore), outside the V8 heap: a million entries are one small JavaScript
// object to the garbage collector. Every call crosses into C++ (a few hundred ns), so ByteCache is for
// big caches; Cache stays the fast path for hot, small ones. TTLs are kept by the core's clock.
// In pure mode the same API runs on the JavaScript Cache (values then live in the V8 heap).
const { Buffer } = require('node:buffer');
const { makeError, typeError } = require('./errors');
const { shareLoad } = require('./inflight');
const { byteCacheOptions, setTtl, entrySizeStatus } = require('./options');
const { hashKey } = require('./cache');
const { sketchKeyOfString } = require('./xxh3');

const ENTRY_OVERHEAD = 64;

// Strings are stored as UTF-8, where a lone surrogate has no encoding (two different strings
// would become one key): such strings are refused, as the shared key encoding refuses them.
const hasIsWellFormed = typeof String.prototype.isWellFormed === 'function';
const LONE_SURROGATE = /\p{Surrogate}/u;
function checkWellFormed(name, s) {
  if (hasIsWellFormed ? !s.isWellFormed() : LONE_SURROGATE.test(s)) {
    throw makeError('out_of_range', `${name} must be well-formed UTF-16 (got a lone surrogate)`);
  }
}

function checkKey(key) {
  if (typeof key !== 'string') throw typeError('key', 'a string', key);
  checkWellFormed('key', key);
}

function checkValue(value) {
  if (typeof value === 'string') checkWellFormed('value', value);
  else if (!(value instanceof Uint8Array)) {
    throw typeError('value', 'a string, a Buffer or a Uint8Array', value);
  }
}

// Pure mode's store: the JavaScript Cache, weighing keys and values in UTF-8 bytes as the core
// does, copying binary values in and out as the native store does, and handing its policy the
// core's hash of a key (XXH3-64 of its UTF-8 bytes; keys over 240 bytes excepted, xxh3.js), so
// that it makes the native ByteCache's decisions.
function makePureByteStore(PureCache) {
  class ByteWeighedCache extends PureCache {
    _sketchKey(key) {
      return sketchKeyOfString(key, hashKey);
    }
    _weigh(key, value) {
      const vw = typeof value === 'string' ? Buffer.byteLength(value) : value.byteLength;
      return Buffer.byteLength(key) + vw + ENTRY_OVERHEAD;
    }
  }
  return class PureByteStore {
    constructor(max, maxBytes, ttl, policy) {
      this._c = new ByteWeighedCache({ max, maxBytes, ttl: ttl === 0 ? undefined : ttl, policy });
    }
    get(key) {
      const v = this._c.get(key);
      return v instanceof Uint8Array ? Buffer.from(v) : v;
    }
    has(key) {
      return this._c.has(key);
    }
    set(key, value, ttl) {
      const c = this._c;
      const stored = typeof value === 'string' ? value : Buffer.from(value);
      const w = c._weigh(key, stored);
      if (w > c._maxBytes || w > 0xffffffff) {
        c._rejected++;
        const kw = Buffer.byteLength(key);
        return entrySizeStatus(c._maxBytes, kw, w - kw - ENTRY_OVERHEAD);
      }
      c._store(key, stored, w, ttl === 0 ? c._ttl : ttl);
      return null;
    }
    delete(key) {
      return this._c.delete(key);
    }
    clear() {
      this._c.clear();
    }
    size() {
      return this._c.size;
    }
    stats() {
      return this._c.stats();
    }
    resetStats() {
      this._c.resetStats();
    }
    entries(withValues) {
      const out = [];
      for (const [k, v] of this._c.entries()) {
        out.push(withValues ? [k, v instanceof Uint8Array ? Buffer.from(v) : v] : k);
      }
      return out;
    }
    prune() {
      return this._c.prune();
    }
  };
}

function makeByteCache(Store) {
  class ByteCache {
    constructor(options) {
      const o = byteCacheOptions(options);
      this._store = new Store(o.max, o.maxBytes, o.ttl, o.policy);
      this._inflight = null;
    }

    get(key) {
      checkKey(key);
      return this._store.get(key);
    }

    has(key) {
      checkKey(key);
      return this._store.has(key);
    }

    // Returns the cache; an entry heavier than maxBytes throws RangeError
    // (ERR_TWINCACHE_VALUE_TOO_LARGE) and leaves the cache unchanged.
    set(key, value, options) {
      checkKey(key);
      checkValue(value);
      const ttl = options === undefined ? 0 : setTtl(options, 0);
      const st = this._store.set(key, value, ttl);
      if (st !== null) throw makeError(st[0], st[1]);
      // The newest write wins: a fetch() of this key in flight no longer stores its result.
      if (this._inflight !== null) this._inflight.delete(key);
      return this;
    }

    delete(key) {
      checkKey(key);
      if (this._inflight !== null) this._inflight.delete(key);
      return this._store.delete(key);
    }

    clear() {
      if (this._inflight !== null) this._inflight.clear();
      this._store.clear();
    }

    get size() {
      return this._store.size();
    }

    stats() {
      return this._store.stats();
    }

    resetStats() {
      this._store.resetStats();
    }

    prune() {
      return this._store.prune();
    }

    *keys() {
      yield* this._store.entries(false);
    }

    *values() {
      for (const [, v] of this._store.entries(true)) yield v;
    }

    *entries() {
      yield* this._store.entries(true);
    }

    [Symbol.iterator]() {
      return this.entries();
    }

    // As Cache.fetch: one loader call per key at a time; resolved values are stored (they must
    // be strings or binary data), rejections are not.
    fetch(key, loader) {
      checkKey(key);
      if (typeof loader !== 'function') throw typeError('loader', 'a function', loader);
      const hit = this._store.get(key);
      if (hit !== undefined) return Promise.resolve(hit);
      if (this._inflight === null) this._inflight = new Map();
      return shareLoad(this._inflight, key, loader, (value) => this.set(key, value));
    }
  }
  return ByteCache;
}

module.exports = { makeByteCache, makePureByteStore };
