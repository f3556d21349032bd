'use strict';
// cache.js: the Cache every part of the Node package stands on (memoize included).
//
// Layout, written for speed: a Map from key to a dense slot number, and per-slot state in flat
// arrays (keys, values, weights, expiry times, and the policy's links in Uint32Arrays). A hit is
// one Map lookup, an expiry compare when a TTL is in use, and the policy's O(1) touch; no
// allocation. The policy lives behind a few methods (_touch, _insertSlot, _makeRoom, _reweighed,
// _removeSlot, _clearSlots): this class is the pure implementation, running the core's default
// policy ported to JavaScript (tinylfu.js) or, with policy 'lru' (or no limit at all), exact LRU
// over its own linked list; the native subclass (native.js) hands inserts, evictions and
// removals to the C++ core's entry table and makes a hit append the slot to a ring the core
// drains, so hits never cross into C++.
//
// The protocol is the core's (and the replay tool's): a new entry enters the policy first, then
// the policy's victims leave while a limit is exceeded, so the new key takes part in the
// admission contest. A value just set stays readable: the policy never names the slot inserted
// last while another is resident, and a rewritten entry named as a victim sits out the rest of
// the eviction (_makeRoom).
const { clock } = require('./clock');
const { cacheOptions, setTtl, entrySizeStatus } = require('./options');
const { makeError, typeError, formatDouble } = require('./errors');
const { shareLoad } = require('./inflight');
const { TinyLfu, sketchKey } = require('./tinylfu');

const NIL = 0xffffffff;
// Per-entry cost charged against maxBytes on top of key and value: the core's
// entry_overhead_bytes (core/include/twincache/options.hpp), so both languages count alike.
const ENTRY_OVERHEAD = 64;
// The most one entry may weigh (the core stores weights in 32 bits).
const MAX_ENTRY_WEIGHT = 0xffffffff;
// The most slots a default-policy cache sizes its policy for up front (see _initPolicy).
const RESERVE_MAX = 1 << 20;
// The range of a sizeOf result: above 2^53 - 1 a double no longer counts bytes exactly.
const MAX_SIZE_OF = 9007199254740991;

// Default weight of a value: strings by length, binary data by byteLength, anything else 8.
// Pass `sizeOf` for objects whose size matters.
function defaultSizeOf(value) {
  if (typeof value === 'string') return value.length;
  if (typeof value === 'object' && value !== null) {
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value.byteLength;
  }
  return 8;
}

// A key's hash for the core's policy (TinyLFU counts accesses per hash): stable for equal
// primitive keys, so a key evicted and inserted again finds its history. Computed on inserts
// only. Strings hash up to 64 chars plus the length; numbers go to the core as they are (it mixes
// the bits); objects carry one (KEY_HASH, set by memoize's trie leaves) or get a random one.
const KEY_HASH = Symbol('twincache.keyHash');
const objectHashes = new WeakMap();

function hashString(s) {
  let h = 0x811c9dc5 ^ s.length;
  const n = s.length < 64 ? s.length : 64;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function hashKey(key) {
  switch (typeof key) {
    case 'number':
      return key;
    case 'string':
      return hashString(key);
    case 'boolean':
      return key ? 0x9e3779b1 : 0x85ebca77;
    case 'bigint':
      return hashString(String(key));
    case 'object':
    case 'function': {
      if (key === null) return 0xc2b2ae3d;
      const own = key[KEY_HASH];
      if (own !== undefined) return own;
      let h = objectHashes.get(key);
      if (h === undefined) {
        h = (Math.random() * 0x100000000) >>> 0;
        objectHashes.set(key, h);
      }
      return h;
    }
    default:
      return 0x27d4eb2f; // undefined, symbols
  }
}

function keyWeight(key) {
  return typeof key === 'string' ? key.length : 8;
}

function growU32(a, n) {
  const b = new Uint32Array(n);
  b.set(a);
  return b;
}
function growF64(a, n) {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

// A dispose callback that threw: reported as a process warning (name TwincacheDisposeWarning,
// code ERR_TWINCACHE_DISPOSE, the thrown value as `cause`), never thrown into the cache's caller.
function reportDisposeError(err) {
  const what = err instanceof Error ? err.message : String(err);
  const w = new Error(`dispose threw: ${what}`, { cause: err });
  w.name = 'TwincacheDisposeWarning';
  w.code = 'ERR_TWINCACHE_DISPOSE';
  process.emitWarning(w);
}

const NO_FETCH_OPTIONS = Object.freeze({});
const FETCH_OPTIONS = ['signal', 'forceRefresh', 'allowStale'];

// fetch()'s options: names, then types.
function fetchOptions(options) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw typeError('fetch options', 'an object', options);
  }
  for (const name of Object.keys(options)) {
    if (!FETCH_OPTIONS.includes(name)) {
      throw makeError(
        'invalid_argument',
        `fetch options must only name ${FETCH_OPTIONS.join(', ')} (got '${name}')`,
      );
    }
  }
  const { signal, forceRefresh, allowStale } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw typeError('signal', 'an AbortSignal', signal);
  }
  for (const [name, v] of [
    ['forceRefresh', forceRefresh],
    ['allowStale', allowStale],
  ]) {
    if (v !== undefined && typeof v !== 'boolean') throw typeError(name, 'a boolean', v);
  }
  return { signal, forceRefresh: forceRefresh === true, allowStale: allowStale === true };
}

// p, or signal.reason as soon as signal aborts.
function abortable(p, signal) {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

class Cache {
  constructor(options) {
    const o = cacheOptions(options);
    this._init(o.max, o.maxBytes, o.ttl, o.sizeOf, o.policy);
    if (o.dispose !== undefined) this._dispose = o.dispose;
  }

  _init(max, maxBytes, ttl, sizeOf, policy) {
    this._max = max;
    this._maxBytes = maxBytes;
    this._ttl = ttl;
    this._sizeOf = sizeOf === undefined ? null : sizeOf;
    this._policy = policy;
    this._map = new Map();
    const cap = Math.min(max, 16);
    this._cap = cap;
    this._keys = [];
    this._vals = [];
    this._w = new Float64Array(cap);
    // Expiry times (clock ms; 0 = never). Allocated on the first entry with a TTL.
    this._exp = null;
    this._next = new Uint32Array(cap);
    this._prev = new Uint32Array(cap);
    this._head = NIL; // most recently used
    this._tail = NIL; // least recently used: the next victim
    this._free = []; // slots to reuse
    this._top = 0; // slots ever handed out
    this._bytes = 0;
    this._inflight = null; // fetch(): key -> pending load
    this._onDrop = null; // memoize: told of every key that leaves
    this._onClear = null;
    this._dispose = null; // dispose(value, key, reason), or null
    this._disposals = null; // [value, key, reason, ...] waiting for _flushDisposals()
    this._hits = 0;
    this._misses = 0;
    this._inserts = 0;
    this._updates = 0;
    this._rejected = 0;
    this._evictedItems = 0;
    this._evictedBytes = 0;
    this._expired = 0;
    this._deleted = 0;
    this._cleared = 0;
    this._initPolicy(policy);
  }

  // The pure policy: the core's default (tinylfu.js), or exact LRU (this class's list) under
  // 'lru' and when nothing is limited (nothing is ever evicted: the cheapest bookkeeping serves,
  // as in the core's entry table). Its weight units are bytes when maxBytes is set, else items.
  _initPolicy(policy) {
    this._tl = null;
    this._weighBytes = this._maxBytes !== Infinity;
    if (policy === 'lru' || (this._max === Infinity && this._maxBytes === Infinity)) return;
    const tl = new TinyLfu();
    // Counting items, the policy is sized for the whole cache at once, as the replay tool's is
    // (the sketch and ghost table: about 6 bytes per entry; past RESERVE_MAX entries they grow
    // with the slots). Sized by the growing slot count, it would forget what it learned at every
    // growth and steer by a tiny cache's signals while filling (lirs_gli @500: -11 points). The
    // slots come before the capacity, as in the tool: the duel sizes its mini LRU when the
    // capacity is set, and keeps that size while its sampling rate stays (zigzag: -6 points).
    tl.resize(this._cap);
    if (!this._weighBytes) tl.reserve(Math.min(this._max + 1, RESERVE_MAX));
    tl.setCapacity(this._weighBytes ? this._maxBytes : this._max);
    this._tl = tl;
  }

  // ---- the hot path --------------------------------------------------------------------------

  get(key) {
    const s = this._map.get(key);
    if (s === undefined) {
      this._misses++;
      return undefined;
    }
    if (this._exp !== null) {
      const e = this._exp[s];
      if (e !== 0 && e <= clock.now()) {
        this._expire(s);
        this._misses++;
        if (this._disposals !== null) this._flushDisposals();
        return undefined;
      }
    }
    this._hits++;
    this._touch(s);
    return this._vals[s];
  }

  // Slot of a live key, or -1 (reclaiming it when expired). Counts nothing, touches nothing.
  _live(key) {
    const s = this._map.get(key);
    if (s === undefined) return -1;
    if (this._exp !== null) {
      const e = this._exp[s];
      if (e !== 0 && e <= clock.now()) {
        this._expire(s);
        return -1;
      }
    }
    return s;
  }

  has(key) {
    const live = this._live(key) !== -1;
    if (this._disposals !== null) this._flushDisposals();
    return live;
  }

  // The live value, or undefined: counts no hit or miss, leaves the policy alone, removes
  // nothing (an expired entry reads as absent).
  peek(key) {
    const s = this._map.get(key);
    if (s === undefined) return undefined;
    if (this._exp !== null) {
      const e = this._exp[s];
      if (e !== 0 && e <= clock.now()) return undefined;
    }
    return this._vals[s];
  }

  // Milliseconds left before key expires, as lru-cache's: Infinity without a TTL, 0 when absent
  // or expired. Counts nothing.
  getRemainingTTL(key) {
    const s = this._map.get(key);
    if (s === undefined) return 0;
    const e = this._exp === null ? 0 : this._exp[s];
    if (e === 0) return Infinity;
    const left = e - clock.now();
    return left > 0 ? left : 0;
  }

  // Returns the cache. An entry heavier than maxBytes throws RangeError
  // (ERR_TWINCACHE_VALUE_TOO_LARGE) and leaves the cache unchanged.
  set(key, value, options) {
    return this._setChecked(
      key,
      value,
      options === undefined ? this._ttl : setTtl(options, this._ttl),
    );
  }

  // set() with `ttl` already a valid number of ms (0: none), for the package's own tiers (the
  // Redis tier's L1 puts on every L2 hit): no options object to read, no range check through
  // the addon. Weights, limits, counts and evictions are set()'s.
  _setChecked(key, value, ttl) {
    const w = this._weigh(key, value);
    if (w > this._maxBytes || w > MAX_ENTRY_WEIGHT) {
      this._rejected++;
      const kw = keyWeight(key);
      throw makeError(...entrySizeStatus(this._maxBytes, kw, w - kw - ENTRY_OVERHEAD));
    }
    this._store(key, value, w, ttl);
    // The newest write wins: a fetch() of this key in flight no longer stores its result.
    if (this._inflight !== null) this._inflight.delete(key);
    if (this._disposals !== null) this._flushDisposals();
    return this;
  }

  // Weight of an entry (key + value + overhead), an integer. A sizeOf result must be a number in
  // [0, 2^53 - 1]; a fractional one is rounded up (weights are whole bytes, as in the core). A
  // result out of range throws (not counted as rejected: it is bad input, not a heavy entry).
  _weigh(key, value) {
    let vw;
    if (this._sizeOf === null) {
      vw = defaultSizeOf(value);
    } else {
      vw = this._sizeOf(value, key);
      if (typeof vw !== 'number') throw typeError('sizeOf result', 'a number', vw);
      if (!(vw >= 0 && vw <= MAX_SIZE_OF)) {
        throw makeError(
          'out_of_range',
          `sizeOf result must be a number in [0, ${MAX_SIZE_OF}] (got ${formatDouble(vw)})`,
        );
      }
      vw = Math.ceil(vw);
    }
    return keyWeight(key) + vw + ENTRY_OVERHEAD;
  }

  // Inserts or replaces; `w` already checked against maxBytes.
  _store(key, value, w, ttl) {
    let s = this._map.get(key);
    if (s !== undefined && this._exp !== null) {
      const e = this._exp[s];
      if (e !== 0 && e <= clock.now()) {
        this._expire(s);
        s = undefined;
      }
    }
    if (ttl !== 0 && this._exp === null) this._exp = new Float64Array(this._cap);
    if (s !== undefined) {
      // Update in place: only the weight it adds can evict others.
      this._updates++;
      if (this._dispose !== null && this._vals[s] !== value) this._queueDispose(s, 'replaced');
      this._vals[s] = value;
      const old = this._w[s];
      this._bytes += w - old;
      this._w[s] = w;
      if (this._exp !== null) this._exp[s] = ttl === 0 ? 0 : clock.now() + ttl;
      this._touch(s);
      if (w !== old) this._reweighed(s);
      return s;
    }
    this._inserts++;
    s = this._insertSlot(key, w);
    this._map.set(key, s);
    this._keys[s] = key;
    this._vals[s] = value;
    this._w[s] = w;
    this._bytes += w;
    if (this._exp !== null) this._exp[s] = ttl === 0 ? 0 : clock.now() + ttl;
    this._makeRoom(NIL, s);
    return s;
  }

  delete(key) {
    const s = this._live(key);
    if (this._inflight !== null) this._inflight.delete(key);
    if (s === -1) {
      if (this._disposals !== null) this._flushDisposals();
      return false;
    }
    this._deleted++;
    if (this._dispose !== null) this._queueDispose(s, 'deleted');
    this._drop(s);
    if (this._disposals !== null) this._flushDisposals();
    return true;
  }

  // Removes every entry (each counts as `cleared`); counters are kept (see stats()).
  clear() {
    if (this._dispose !== null) {
      for (const s of this._map.values()) this._queueDispose(s, 'cleared');
    }
    this._cleared += this._map.size;
    this._map.clear();
    this._keys = [];
    this._vals = [];
    this._free = [];
    this._top = 0;
    this._bytes = 0;
    this._head = this._tail = NIL;
    if (this._inflight !== null) this._inflight.clear();
    if (this._onClear !== null) this._onClear();
    this._clearSlots();
    if (this._disposals !== null) this._flushDisposals();
  }

  // Entries stored, including expired ones not reclaimed yet (see prune()).
  get size() {
    return this._map.size;
  }

  // Reclaims every expired entry now; returns how many.
  prune() {
    if (this._exp === null) return 0;
    const now = clock.now();
    let n = 0;
    for (const s of this._map.values()) {
      const e = this._exp[s];
      if (e !== 0 && e <= now) {
        this._expire(s);
        n++;
      }
    }
    if (this._disposals !== null) this._flushDisposals();
    return n;
  }

  stats() {
    return {
      hits: this._hits,
      misses: this._misses,
      inserts: this._inserts,
      updates: this._updates,
      rejected: this._rejected,
      evictions: this._evictedItems + this._evictedBytes,
      evictedItems: this._evictedItems,
      evictedBytes: this._evictedBytes,
      expirations: this._expired,
      deleted: this._deleted,
      cleared: this._cleared,
      items: this._map.size,
      bytes: this._bytes,
    };
  }

  // Zeroes the counters (not items/bytes).
  resetStats() {
    this._hits = this._misses = this._inserts = this._updates = this._rejected = 0;
    this._evictedItems = this._evictedBytes = this._expired = this._deleted = this._cleared = 0;
  }

  // Live keys, each once: most recently used first under policy 'lru'; the default policy keeps
  // no recency order, so its order is unspecified (docs/node.md).
  *keys() {
    for (const [k, v] of this.entries()) yield k;
  }

  *values() {
    for (const [k, v] of this.entries()) yield v;
  }

  // Live [key, value] pairs, in keys() order.
  *entries() {
    const now = this._exp === null ? 0 : clock.now();
    const snapshot = [];
    for (const s of this._order()) {
      if (this._exp !== null) {
        const e = this._exp[s];
        if (e !== 0 && e <= now) continue;
      }
      snapshot.push([this._keys[s], this._vals[s]]);
    }
    yield* snapshot;
  }

  [Symbol.iterator]() {
    return this.entries();
  }

  // Async get-or-load: a live value resolves at once; otherwise one call of loader(key) runs
  // for all concurrent fetches of the key, and its resolved value is stored. A rejection is not
  // stored: every waiter sees it, and the next fetch calls the loader again.
  //
  // options (as lru-cache names them): `signal`, an AbortSignal: aborting it rejects this
  // fetch with signal.reason (the load goes on for the other callers, and is stored), and the
  // loader receives it as loader(key, { signal }) when this fetch starts the load;
  // `forceRefresh`: load even when a live value is cached (joining a load in flight);
  // `allowStale` (with forceRefresh): resolve with the cached value at once while the load runs.
  fetch(key, loader, options) {
    if (typeof loader !== 'function') throw typeError('loader', 'a function', loader);
    const o = options === undefined ? NO_FETCH_OPTIONS : fetchOptions(options);
    const signal = o.signal;
    if (signal !== undefined && signal.aborted) return Promise.reject(signal.reason);
    const s = this._live(key);
    if (s !== -1 && !o.forceRefresh) {
      this._hits++;
      this._touch(s);
      return Promise.resolve(this._vals[s]);
    }
    if (this._disposals !== null) this._flushDisposals(); // the expired entry _live() reclaimed
    if (this._inflight === null) this._inflight = new Map();
    if (!this._inflight.has(key)) this._misses++;
    const load = signal === undefined ? loader : (k) => loader(k, { signal });
    const p = shareLoad(this._inflight, key, load, (value) => {
      const w = this._weigh(key, value);
      if (w <= this._maxBytes && w <= MAX_ENTRY_WEIGHT) this._store(key, value, w, this._ttl);
      else this._rejected++;
      if (this._disposals !== null) this._flushDisposals();
    });
    if (s !== -1 && o.allowStale) {
      p.catch(() => {}); // the caller gets the cached value; the load's failure reaches no one
      this._touch(s);
      return Promise.resolve(this._vals[s]);
    }
    return signal === undefined ? p : abortable(p, signal);
  }

  // ---- removal -------------------------------------------------------------------------------

  _expire(s) {
    this._expired++;
    if (this._dispose !== null) this._queueDispose(s, 'expired');
    this._drop(s);
  }

  // ---- dispose (docs/node.md, "Eviction callbacks") ---------------------------------------------
  // A removal queues (value, key, reason) while the cache is mid-change; the public call that
  // caused it calls dispose once the cache is consistent again, so dispose may use the cache.

  _queueDispose(s, reason) {
    if (this._disposals === null) this._disposals = [];
    this._disposals.push(this._vals[s], this._keys[s], reason);
  }

  _flushDisposals() {
    const q = this._disposals;
    this._disposals = null;
    const dispose = this._dispose;
    for (let i = 0; i < q.length; i += 3) {
      try {
        dispose(q[i], q[i + 1], q[i + 2]);
      } catch (err) {
        reportDisposeError(err);
      }
    }
  }

  // Forgets slot s (its entry leaves for any reason).
  _drop(s) {
    if (this._onDrop !== null) this._onDrop(this._keys[s]);
    this._map.delete(this._keys[s]);
    this._keys[s] = undefined;
    this._vals[s] = undefined;
    this._bytes -= this._w[s];
    this._removeSlot(s);
    this._free.push(s);
  }

  // Evicts the policy's victims while the cache is over a limit (items first, then bytes, each
  // eviction counted for the limit that asked), as the core's entry_table make_room. `keep` (an
  // entry rewritten) is never evicted: should the policy name it, it leaves the policy for the
  // rest of the loop and comes back as just inserted. `fresh` (the entry just inserted) is named
  // only once it is the last entry (the policy's rule), and then the loop stops.
  _makeRoom(keep, fresh) {
    const tl = this._tl;
    let out = false;
    for (;;) {
      let forBytes;
      if (this._map.size > this._max) forBytes = false;
      else if (this._bytes > this._maxBytes) forBytes = true;
      else break;
      let v;
      if (tl === null) {
        v = this._tail;
        if (v === keep || v === fresh) break; // exact LRU names them only when alone
      } else {
        if (tl.size === 0) break;
        v = tl.victim();
        if (v === NIL || v === fresh) break;
        if (v === keep) {
          tl.remove(keep);
          out = true;
          continue;
        }
      }
      if (forBytes) this._evictedBytes++;
      else this._evictedItems++;
      if (this._dispose !== null) this._queueDispose(v, 'evicted');
      this._drop(v);
    }
    if (out) tl.onInsert(keep, tl.keyOf(keep), this._weighBytes ? this._w[keep] : 1);
  }

  // ---- the policy -------------------------------------------------------------------------------

  // Hot path: a hit is the policy's O(1) step; under exact LRU it moves the slot to the front of
  // the list (a few Uint32Array stores).
  _touch(s) {
    const tl = this._tl;
    if (tl !== null) {
      tl.access(s);
      return;
    }
    if (s === this._head) return;
    const next = this._next;
    const prev = this._prev;
    const p = prev[s];
    const n = next[s];
    next[p] = n; // s is not the head, so p is a slot
    if (n === NIL) this._tail = p;
    else prev[n] = p;
    prev[s] = NIL;
    next[s] = this._head;
    prev[this._head] = s;
    this._head = s;
  }

  // A value's weight changed in place (an update, or a memoized promise that resolved): as the
  // core's update, the policy hears of it only when it weighs in bytes (as a write, an access),
  // and others leave while the bytes are over.
  _reweighed(s) {
    const tl = this._tl;
    if (tl !== null) {
      if (!this._weighBytes) return;
      tl.weightChange(s, this._w[s]);
    }
    this._makeRoom(s, NIL);
  }

  // The policy's 32-bit sketch key of a key (tinylfu.js sketchKey of hashKey). Pure ByteCache
  // overrides it with the core's (XXH3-64 of the key's UTF-8 bytes, xxh3.js).
  _sketchKey(key) {
    return sketchKey(hashKey(key));
  }

  // Returns a free slot, entered into the policy (as the most recently used under LRU); the
  // caller registers the entry, then _makeRoom() evicts.
  _insertSlot(key, w) {
    let s;
    if (this._free.length > 0) {
      s = this._free.pop();
    } else {
      s = this._top++;
      if (s >= this._cap) this._grow();
    }
    const tl = this._tl;
    if (tl !== null) {
      tl.onInsert(s, this._sketchKey(key), this._weighBytes ? w : 1);
      return s;
    }
    this._prev[s] = NIL;
    this._next[s] = this._head;
    if (this._head === NIL) this._tail = s;
    else this._prev[this._head] = s;
    this._head = s;
    return s;
  }

  _removeSlot(s) {
    const tl = this._tl;
    if (tl !== null) {
      tl.remove(s);
      return;
    }
    const p = this._prev[s];
    const n = this._next[s];
    if (p === NIL) this._head = n;
    else this._next[p] = n;
    if (n === NIL) this._tail = p;
    else this._prev[n] = p;
  }

  _clearSlots() {
    if (this._tl !== null) this._tl.clear();
  }

  // Slots from most to least recently used under LRU; in insertion order under the default
  // policy, which keeps no such order (as in native mode).
  _order() {
    if (this._tl !== null) return [...this._map.values()];
    const out = [];
    for (let s = this._head; s !== NIL; s = this._next[s]) out.push(s);
    return out;
  }

  _grow() {
    const cap = Math.min(this._cap * 2, Math.max(this._max, 16));
    const n = Math.max(cap, this._top);
    this._next = growU32(this._next, n);
    this._prev = growU32(this._prev, n);
    this._w = growF64(this._w, n);
    if (this._exp !== null) this._exp = growF64(this._exp, n);
    if (this._tl !== null) this._tl.resize(n);
    this._cap = n;
  }
}

module.exports = {
  Cache,
  reportDisposeError,
  defaultSizeOf,
  keyWeight,
  hashKey,
  KEY_HASH,
  ENTRY_OVERHEAD,
  MAX_ENTRY_WEIGHT,
  NIL,
};
