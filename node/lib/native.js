'use strict';
// native.js: the object-mode Cache over the C++ core's entry table (addon SlotEngine).
//
// JavaScript keeps what a hit needs (the key -> slot Map, values, weights, expiry times) so a
// hit never crosses into C++: it appends its slot to `ring`, a Uint32Array the engine reads.
// Every engine call (insert, update, remove, order) first replays the ring into the core's
// policy, in order, so the policy sees every access (exact LRU stays exact), then decides: the
// core picks victims under max / maxBytes and hands out slot ids. Evicted slots come back in
// `out` (bit 31: evicted for maxBytes) and JavaScript forgets their keys and values.
const { makeError } = require('./errors');
const { hashKey } = require('./cache');

const RING = 1024; // hits between two replays; a full ring is replayed at once
const OUT = 256; // evictions reported in `out`; more come back through engine.evicted()
const BYTES_BIT = 0x80000000;

function makeNativeCache(addon, PureCache) {
  class Cache extends PureCache {
    _init(max, maxBytes, ttl, sizeOf, policy) {
      super._init(max, maxBytes, ttl, sizeOf, policy);
      this._ring = new Uint32Array(RING);
      this._ringN = 0;
      this._out = new Uint32Array(OUT + 1);
      this._engine = new addon.SlotEngine(max, maxBytes, policy, this._ring, this._out);
      this._lossy = policy !== 'lru';
    }

    // The core's entry table is the policy: none in JavaScript.
    _initPolicy() {
      this._tl = null;
      this._weighBytes = this._maxBytes !== Infinity;
    }

    // The engine evicted what an insert needed already (see _insertSlot).
    _makeRoom() {}

    // Hot path: one store into the ring. Under 'lru' a full ring is replayed at once (every
    // access counts for exact LRU); under the frequency-based policies the ring is lossy, like
    // Caffeine's read buffer: once full, further hits are not recorded until the next insert,
    // update or removal replays it, so a hit never crosses into C++.
    _touch(s) {
      if (this._ringN === RING) {
        if (this._lossy) return;
        this._engine.drain(RING);
        this._ringN = 0;
      }
      this._ring[this._ringN++] = s;
    }

    _takeRing() {
      const n = this._ringN;
      this._ringN = 0;
      return n;
    }

    // Forgets the slots the engine just evicted: read from `out` in place (a subarray view per
    // evicting insert showed in profiles of an L1 kept full, as the Redis tier's L1 often is).
    _applyEvictions() {
      const out = this._out;
      const n = out[0];
      if (n === 0) return;
      if (n < OUT + 1) {
        for (let i = 1; i <= n; i++) this._evicted(out[i]);
        return;
      }
      const list = this._engine.evicted();
      for (let i = 0; i < n; i++) this._evicted(list[i]);
    }

    _evicted(v) {
      const s = (v & ~BYTES_BIT) >>> 0;
      if (v & BYTES_BIT) this._evictedBytes++;
      else this._evictedItems++;
      if (this._dispose !== null) this._queueDispose(s, 'evicted');
      this._forget(s);
    }

    _forget(s) {
      if (this._onDrop !== null) this._onDrop(this._keys[s]);
      this._map.delete(this._keys[s]);
      this._keys[s] = undefined;
      this._vals[s] = undefined;
      this._bytes -= this._w[s];
    }

    _insertSlot(key, w) {
      const s = this._engine.insert(this._takeRing(), w, hashKey(key));
      this._applyEvictions();
      if (s < 0) {
        const st = this._engine.lastError();
        throw makeError(st[0], st[1]);
      }
      if (s >= this._cap) this._growTo(s + 1);
      return s;
    }

    // Only byte budgets care about weights: without maxBytes the core need not hear of it.
    _reweighed(s) {
      if (this._maxBytes === Infinity) return;
      if (this._engine.update(this._takeRing(), s, this._w[s]) < 0) {
        const st = this._engine.lastError();
        throw makeError(st[0], st[1]);
      }
      this._applyEvictions();
    }

    _drop(s) {
      this._forget(s);
      this._engine.remove(this._takeRing(), s);
    }

    _clearSlots() {
      this._ringN = 0;
      this._engine.clear();
    }

    _order() {
      const order = this._engine.order(this._takeRing());
      return order === null ? [...this._map.values()] : order;
    }

    _growTo(n) {
      let cap = this._cap;
      while (cap < n) cap *= 2;
      const w = new Float64Array(cap);
      w.set(this._w);
      this._w = w;
      if (this._exp !== null) {
        const e = new Float64Array(cap);
        e.set(this._exp);
        this._exp = e;
      }
      this._cap = cap;
    }
  }
  return Cache;
}

module.exports = { makeNativeCache };
