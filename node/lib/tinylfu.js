'use strict';
// tinylfu.js: the pure-JavaScript port of the core's default eviction policy, adaptive W-TinyLFU
// (core/include/twincache/policy_tinylfu.hpp; design, constants and the experiments behind them:
// that header and docs/hit-ratio.md). The pure Cache (cache.js) runs it behind _touch /
// _insertSlot / _removeSlot / _clearSlots so that pure mode keeps the entries native mode keeps.
//
// What is ported, with the core's constants: the 4-bit count-min sketch (4 counters per key in
// one 64-byte block, halved every 10 x entries additions), the window / probation / protected
// regions, admission (the candidate's frequency against main's victim's, cold ties, a warm
// candidate's 1/128 chance), the ghost table that steers the window's share, the LRU duel (a
// mini exact LRU over 1 key in R, its epochs, sleep and latch, the latched migration). Not
// ported: the hill climber and count_protected_hits, which are off in the core's defaults.
//
// Keys are the core's 32-bit sketch keys (sketchKey below), and every 64-bit step of the core
// (the key hash, the sketch's spread, the ghosts' remix, the xorshift generator) is computed
// exactly in 32-bit halves, so the same keys give the same decisions as the C++ policy in the
// replay tool. The costly mixing runs
// once per insert (each slot keeps its spread hash); a hit is one branch on the region, one
// sketch increment (not in protected) and one list move, in typed arrays, allocating nothing.

const NIL = 0xffffffff; // no slot
const WINDOW = 0;
const PROBATION = 1;
const PROTECTED = 2;
const ABSENT = 3;

// tinylfu_config's defaults (policy_tinylfu.hpp).
const INITIAL_WINDOW = 0.01;
const PROTECTED_SHARE = 0.8;
const GHOST_REACH = 0.03;
const GHOST_DELTA = 2.0;
const GHOST_TABLE = 0.5;
const GHOST_MIN_REACH = 12.0;
const SKETCH_WORDS = 0.5;
const DUEL_MIN_RATE = 8;
const DUEL_MINI_ENTRIES = 512;
const DUEL_MEMORY = 0.875;
const DUEL_SIGMA = 3.0;
const DUEL_MARGIN = 0.04;
const DUEL_MISS_MARGIN = 0.1;
const DUEL_MIN_EPOCHS = 3;
const DUEL_SLEEP = 4.0;
const WARM_THRESHOLD = 6;
const RANDOM_ADMIT_MASK = 127;

// What sends a hit to the general path (the core's access_flags, tested in one compare).
const F_DUEL = 1; // the duel samples
const F_MIGRATING = 2; // latched, main not drained: main's hits move into the window
const F_COLD = 4; // nothing seen twice yet: admission breaks ties for the candidate

// ---- 64-bit arithmetic in 32-bit halves (no allocation) ----------------------------------------
// A product's low word is Math.imul(alo, blo) >>> 0; its high word mulHi64(...). Both stay in
// locals (a module or typed-array scratch costs a store and a load, or a heap number, per call).

// High 32 bits of the 64-bit product of two unsigned 32-bit numbers. The double product is within
// 2^12 of the exact one (below 2^64, 53-bit mantissa), and so is (product - low word); the high
// word is that divided by 2^32, rounded: exact.
function mulHigh32(a, b) {
  return ((a * b - (Math.imul(a, b) >>> 0)) / 4294967296 + 0.5) >>> 0;
}

// High word of (ahi:alo) * (bhi:blo) mod 2^64.
function mulHi64(ahi, alo, bhi, blo) {
  return (mulHigh32(alo, blo) + Math.imul(alo, bhi) + Math.imul(ahi, blo)) >>> 0;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LE ? 0 : 1;
const HI = LE ? 1 : 0;

// The sketch key of a 64-bit hash (policy_tinylfu.hpp sketch_key: the top 32 bits of
// hash x 0x9E3779B97F4A7C15), as a signed 32-bit integer: those travel untagged (small
// integers), where an unsigned one above 2^31 would be boxed in a heap number at every call.
function sketchKey64(hi, lo) {
  return mulHi64(hi, lo, 0x9e3779b9, 0x7f4a7c15) | 0;
}

// XXH3-64's mix for 8-byte inputs (XXH3_len_4to8_64b with the default secret and seed 0):
// bitflip = readLE64(secret + 8) ^ readLE64(secret + 16); multiplier PRIME_MX2.
const BITFLIP_HI = (0x1cad21f7 ^ 0xdb979083) >>> 0;
const BITFLIP_LO = (0x2c81017c ^ 0xe96dd4de) >>> 0;
const MX2_HI = 0x9fb21c65;
const MX2_LO = 0x1e98df25;

// The sketch key of a JavaScript key hash (cache.js hashKey: a number). An integer (a number key,
// a string's 32-bit hash) is hashed as the core hashes a 64-bit integer key, XXH3-64 of its 8
// little-endian bytes (two's complement), which is what the replay tool does with a trace's
// keys: the same keys then give the same decisions as the tool's. Other numbers go through
// splitmix64's finalizer over their float64 bits.
function sketchKey(h) {
  if (Number.isInteger(h) && h >= -9223372036854775808 && h < 18446744073709551616) {
    // keyed = (lo32 << 32 | hi32) ^ bitflip; then XXH3_rrmxmx(keyed, 8)
    const khi = ((h >>> 0) ^ BITFLIP_HI) >>> 0;
    const klo = ((Math.floor(h / 4294967296) >>> 0) ^ BITFLIP_LO) >>> 0;
    const xhi = (khi ^ ((klo << 17) | (khi >>> 15)) ^ ((khi << 24) | (klo >>> 8))) >>> 0;
    const xlo = (klo ^ ((khi << 17) | (klo >>> 15)) ^ ((klo << 24) | (khi >>> 8))) >>> 0;
    const yhi = mulHi64(xhi, xlo, MX2_HI, MX2_LO); // x ^= rotl49 ^ rotl24; x *= MX2
    const ylo = ((Math.imul(xlo, MX2_LO) >>> 0) ^ ((yhi >>> 3) + 8)) >>> 0; // x ^= (x >> 35) + 8
    const zhi = mulHi64(yhi, ylo, MX2_HI, MX2_LO); // x *= MX2
    const zlo = Math.imul(ylo, MX2_LO) >>> 0;
    // x ^= x >> 28
    return sketchKey64((zhi ^ (zhi >>> 28)) >>> 0, (zlo ^ ((zlo >>> 28) | (zhi << 4))) >>> 0);
  }
  f64[0] = h;
  const hi = u32[HI];
  const lo = u32[LO];
  const ahi = (hi ^ (hi >>> 30)) >>> 0; // x ^= x >> 30
  const alo = (lo ^ ((lo >>> 30) | (hi << 2))) >>> 0;
  const bhi = mulHi64(ahi, alo, 0xbf58476d, 0x1ce4e5b9);
  const blo = Math.imul(alo, 0x1ce4e5b9) >>> 0;
  const chi = (bhi ^ (bhi >>> 27)) >>> 0; // x ^= x >> 27
  const clo = (blo ^ ((blo >>> 27) | (bhi << 5))) >>> 0;
  const dhi = mulHi64(chi, clo, 0x94d049bb, 0x133111eb);
  const dlo = Math.imul(clo, 0x133111eb) >>> 0;
  // x ^= x >> 31
  return sketchKey64((dhi ^ (dhi >>> 31)) >>> 0, (dlo ^ ((dlo >>> 31) | (dhi << 1))) >>> 0);
}

// share x budget, whole units (the core's scale()).
function scale(share, budget) {
  const v = share * budget;
  return v >= budget ? budget : Math.floor(v);
}

function bitCeil(n) {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

// ---- the duel's exact miniature LRU (mini_lru) ------------------------------------------------

// An exact LRU over 32-bit keys with a budget in weight units. Sized in reset(); access() never
// allocates. Its key index is open addressing with linear probing (slot + 1; 0: empty).
class MiniLru {
  constructor() {
    this.budget = 0;
    this.weight = 0;
    this.keys = null; // null: never reset (the core's empty())
    this.weights = null;
    this.prev = null;
    this.next = null;
    this.head = NIL;
    this.tail = NIL;
    this.free = null;
    this.nFree = 0;
    this.index = null;
    this.indexMask = 0;
    this.indexShift = 0;
  }

  // A key's home in the index: the top bits of key x 2^32/phi (sampled keys share their low
  // bits, the sample test, so the low bits of the product would crowd them into a few homes).
  home(key) {
    return Math.imul(key, 0x9e3779b9) >>> this.indexShift;
  }

  reset(budget, maxKeys) {
    maxKeys = Math.max(1, maxKeys);
    this.budget = budget;
    this.weight = 0;
    this.keys = new Int32Array(maxKeys);
    this.weights = new Uint32Array(maxKeys);
    this.prev = new Uint32Array(maxKeys);
    this.next = new Uint32Array(maxKeys);
    this.head = this.tail = NIL;
    this.free = new Uint32Array(maxKeys);
    for (let i = 0; i < maxKeys; i++) this.free[i] = maxKeys - 1 - i;
    this.nFree = maxKeys;
    const size = bitCeil(2 * maxKeys);
    this.index = new Uint32Array(size);
    this.indexMask = size - 1;
    this.indexShift = 32 - Math.log2(size);
  }

  empty() {
    return this.keys === null;
  }

  // Whether the key was resident (an LRU hit); afterwards it is the most recently used key,
  // unless it weighs more than the whole budget.
  access(key, w) {
    const w32 = w < 0xffffffff ? w : 0xffffffff;
    let s = this.find(key);
    if (s !== NIL) {
      this.weight = this.weight - this.weights[s] + w32;
      this.weights[s] = w32;
      this.unlink(s);
      this.pushFront(s);
      this.trim(s);
      return true;
    }
    if (w32 > this.budget) return false;
    if (this.nFree === 0) this.remove(this.tail);
    s = this.free[--this.nFree];
    this.keys[s] = key;
    this.weights[s] = w32;
    this.weight += w32;
    let i = this.home(key);
    while (this.index[i] !== 0) i = (i + 1) & this.indexMask;
    this.index[i] = s + 1;
    this.pushFront(s);
    this.trim(s);
    return false;
  }

  erase(key) {
    const s = this.find(key);
    if (s !== NIL) this.remove(s);
  }

  // Empties the LRU, keeping its budget and its memory.
  forgetAll() {
    while (this.tail !== NIL) this.remove(this.tail);
  }

  find(key) {
    if (this.keys === null) return NIL;
    const mask = this.indexMask;
    for (let i = this.home(key); ; i = (i + 1) & mask) {
      const e = this.index[i];
      if (e === 0) return NIL;
      if (this.keys[e - 1] === key) return e - 1;
    }
  }

  // Evicts from the LRU end until the budget holds again, never `keep`.
  trim(keep) {
    while (this.weight > this.budget) {
      const v = this.tail;
      if (v === keep || v === NIL) break;
      this.remove(v);
    }
  }

  remove(s) {
    // Backward-shift deletion keeps every probe chain unbroken.
    const mask = this.indexMask;
    const index = this.index;
    let i = this.home(this.keys[s]);
    while (index[i] !== s + 1) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const home = this.home(this.keys[index[j] - 1]);
      // Move j's entry into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        index[i] = index[j];
        i = j;
      }
    }
    index[i] = 0;
    this.weight -= this.weights[s];
    this.unlink(s);
    this.free[this.nFree++] = s;
  }

  unlink(s) {
    const p = this.prev[s];
    const n = this.next[s];
    if (p === NIL) this.head = n;
    else this.next[p] = n;
    if (n === NIL) this.tail = p;
    else this.prev[n] = p;
  }

  pushFront(s) {
    this.prev[s] = NIL;
    this.next[s] = this.head;
    if (this.head === NIL) this.tail = s;
    else this.prev[this.head] = s;
    this.head = s;
  }
}

// ---- the policy ------------------------------------------------------------------------------

// The protocol (policy.hpp): resize(n) before slot ids < n are used; setCapacity(c) in weight
// units; onInsert(s, key, w) when s becomes resident (key: sketchKey() of its hash); access(s)
// on a hit; weightChange(s, w) when a resident key is written again; victim() names the slot to
// evict and remove(s) takes any slot out (the victim or not).
class TinyLfu {
  constructor() {
    this._flags = F_COLD;
    this._prev = new Uint32Array(0);
    this._next = new Uint32Array(0);
    this._where = new Uint8Array(0);
    this._keys = new Int32Array(0); // sketch key per slot
    this._sh = new Uint32Array(0); // the sketch's spread of the key, high and low halves
    this._sl = new Uint32Array(0);
    this._weights = null; // null: every weight is 1
    this._head = new Uint32Array([NIL, NIL, NIL]); // most recently used, per region
    this._tail = new Uint32Array([NIL, NIL, NIL]);
    this._weight = new Float64Array(4); // per region (ABSENT stays 0)
    this._size = 0;
    this._capacity = 0;
    this._slots = 0;
    this._windowMax = 0;
    this._protectedMax = 0;
    this._estimated = 1;
    // Frequency sketch: 64-bit words as pairs of 32-bit halves (low half first).
    this._table = new Uint32Array(0);
    this._blockMask = 0;
    this._sampleSize = 0;
    this._additions = 0;
    this._rngHi = 0x9e3779b9;
    this._rngLo = 0x7f4a7c15;
    // Ghosts.
    this._ghosts = new Uint32Array(0);
    this._ghostMask = 0;
    this._ghostUnit = 1; // 2^ghost_shift
    this._evictions0 = 0; // window candidates rejected
    this._evictions1 = 0; // main victims
    this._windowShare = INITIAL_WINDOW;
    // The LRU duel.
    this._mini = new MiniLru();
    this._latched = false;
    this._epochs = 0;
    this._duelShift = 0;
    this._duelMask = 0;
    this._epoch = 16;
    this._a = 0;
    this._b = 0;
    this._n = 0;
    this._m = 0;
    this._evA = 0;
    this._evB = 0;
    this._evN = 0;
    this._evM = 0;
    this._sleepLeft = 0;
    this._warming = false;
    this._lastVictim = NIL;
    this._fresh = NIL; // the slot inserted last, until it leaves
  }

  get size() {
    return this._size;
  }

  // Slot ids below n may be used from now on (never shrinks).
  resize(n) {
    if (n > this._where.length) {
      const grow = (A, old) => {
        const a = new A(n);
        a.set(old);
        return a;
      };
      const from = this._where.length;
      this._prev = grow(Uint32Array, this._prev);
      this._next = grow(Uint32Array, this._next);
      this._where = grow(Uint8Array, this._where);
      this._where.fill(ABSENT, from);
      this._keys = grow(Int32Array, this._keys);
      this._sh = grow(Uint32Array, this._sh);
      this._sl = grow(Uint32Array, this._sl);
      if (this._weights !== null) {
        this._weights = grow(Uint32Array, this._weights);
        this._weights.fill(1, from);
      }
    }
    this._slots = Math.max(this._slots, n);
    this._sizeSketch();
  }

  // Sizes the sketch, the ghosts and the duel for n slots without allocating per-slot state (the
  // replay tool sizes its policy for capacity + 1 slots from the start; a cache that grows its
  // slots on demand calls this with the slots it will end with, so that its policy decides as
  // the tool's does from the first request on).
  reserve(n) {
    this._slots = Math.max(this._slots, n);
    this._sizeSketch();
  }

  setCapacity(c) {
    this._capacity = c;
    this._latched = false; // a new capacity is a new contest
    this._flags &= ~F_MIGRATING;
    this._sizeSketch();
    this._applyWindowShare();
  }

  onInsert(s, key, w) {
    key |= 0; // the signed form everywhere (an unsigned one would never equal the stored key)
    this._keys[s] = key;
    this._spread(s, key);
    this._increment(s);
    this._setWeight(s, w);
    w = this._weights === null ? 1 : this._weights[s];
    this._pushFront(WINDOW, s);
    this._weight[WINDOW] += w;
    this._size++;
    this._fresh = s;
    this._recall(key);
    if ((this._flags & F_DUEL) !== 0) {
      if ((key & this._duelMask) === 0) this._duelRequest(key, w, false);
    } else if (this._sleepLeft !== 0 && --this._sleepLeft === 0) {
      this._wakeDuel();
    }
    // Window overflow moves to probation eagerly while main has room (the cache is filling).
    while (this._weight[WINDOW] > this._windowMax && this._mainHasRoomFor(this._tail[WINDOW])) {
      this._move(this._tail[WINDOW], PROBATION);
    }
  }

  // Hot path: a hit on resident slot s.
  access(s) {
    const r = this._where[s];
    if (this._flags !== 0) {
      this._accessGeneral(r, s);
    } else if (r === PROTECTED) {
      this._toFront(PROTECTED, s);
    } else {
      this._increment(s);
      if (r === PROBATION) this._promote(s);
      else this._toFront(WINDOW, s);
    }
  }

  // A resident key written again (its weight may be the same): an access, and a return.
  weightChange(s, w) {
    this._flags &= ~F_COLD;
    const r = this._where[s];
    this._weight[r] -= this._weights === null ? 1 : this._weights[s];
    this._setWeight(s, w);
    const nw = this._weights === null ? 1 : this._weights[s];
    this._weight[r] += nw;
    this._increment(s);
    const key = this._keys[s];
    if ((this._flags & F_DUEL) !== 0 && (key & this._duelMask) === 0) this._mini.access(key, nw);
    this._touch(r, s);
  }

  remove(s) {
    // A removal other than victim()'s (a delete, an expiry) leaves the mini LRU too.
    if (s === this._fresh) this._fresh = NIL;
    if (s === this._lastVictim) {
      this._lastVictim = NIL;
    } else if ((this._flags & F_DUEL) !== 0) {
      const key = this._keys[s];
      if ((key & this._duelMask) === 0) this._mini.erase(key);
    }
    const r = this._where[s];
    this._weight[r] -= this._weights === null ? 1 : this._weights[s];
    this._unlink(r, s);
    this._where[s] = ABSENT;
    this._size--;
  }

  // The slot to evict so the cache fits its capacity again (NIL when empty). May first move
  // window overflow into main, admitting or rejecting candidates. Never the slot inserted last
  // while another slot is resident: a value just written can be read back at once, admission
  // decides which other entry leaves (the fresh slot counts in its region's weight but is
  // skipped as the window's candidate and as main's victim; it becomes the candidate at the
  // next insert).
  victim() {
    this._lastVictim = this._chooseVictim();
    return this._lastVictim;
  }

  clear() {
    this._head.fill(NIL);
    this._tail.fill(NIL);
    this._weight.fill(0);
    this._where.fill(ABSENT);
    this._size = 0;
    this._fresh = NIL;
    this._table.fill(0);
    this._additions = 0;
    this._flags |= F_COLD;
    this._unlatch();
  }

  // The sketch key slot s was inserted with (kept after its removal, until the slot is reused).
  keyOf(s) {
    return this._keys[s];
  }

  // Introspection (tests, debugging).
  where(s) {
    return this._where[s];
  }
  get latched() {
    return this._latched;
  }
  get windowShare() {
    return this._windowShare;
  }

  // ---- private ---------------------------------------------------------------------------------

  _chooseVictim() {
    for (;;) {
      const c = this._oldestButFresh(WINDOW);
      if (c !== NIL && this._weight[WINDOW] > this._windowMax) {
        if (this._mainHasRoomFor(c)) {
          this._move(c, PROBATION);
          continue;
        }
        const v = this._mainVictim();
        if (v === NIL) return c;
        if (this._admit(c, v)) {
          this._move(c, PROBATION);
          this._remember(v, 1);
          return v;
        }
        this._remember(c, 0);
        return c;
      }
      const v = this._mainVictim();
      if (v !== NIL) {
        this._remember(v, 1);
        return v;
      }
      return c !== NIL ? c : this._fresh; // the fresh slot only when it is the only one
    }
  }

  // Region r's least recently used slot other than the fresh one (NIL: none).
  _oldestButFresh(r) {
    const t = this._tail[r];
    return t !== this._fresh || t === NIL ? t : this._prev[t];
  }

  _accessGeneral(r, s) {
    this._flags &= ~F_COLD;
    const key = this._keys[s];
    if (r !== PROTECTED) this._increment(s);
    if ((this._flags & F_DUEL) !== 0 && (key & this._duelMask) === 0) {
      this._duelRequest(key, this._weights === null ? 1 : this._weights[s], true);
    }
    this._touch(r, s);
  }

  // A hit (or a rewrite) on s, in region r: the list moves.
  _touch(r, s) {
    if ((this._flags & F_MIGRATING) !== 0) {
      if (this._weight[PROBATION] + this._weight[PROTECTED] === 0) {
        this._flags &= ~F_MIGRATING; // main is drained: hits take the common path again
      } else if (
        r !== WINDOW &&
        this._weight[WINDOW] + (this._weights === null ? 1 : this._weights[s]) <= this._windowMax
      ) {
        this._move(s, WINDOW); // latched, main not drained yet: main's hits join the LRU
        return;
      }
    }
    if (r === PROBATION) this._promote(s);
    else this._toFront(r, s);
  }

  // A hit in probation: into protected, whose overflow goes back to probation.
  _promote(s) {
    this._move(s, PROTECTED);
    while (this._weight[PROTECTED] > this._protectedMax) {
      const t = this._tail[PROTECTED];
      if (t === s) break;
      this._move(t, PROBATION);
    }
  }

  // Moves s (in region r) to the front of r's list.
  _toFront(r, s) {
    const head = this._head[r];
    if (head === s) return;
    const prev = this._prev;
    const next = this._next;
    const p = prev[s];
    const n = next[s];
    next[p] = n; // s is not the head: p is a slot
    if (n === NIL) this._tail[r] = p;
    else prev[n] = p;
    prev[s] = NIL;
    next[s] = head;
    prev[head] = s;
    this._head[r] = s;
  }

  _unlink(r, s) {
    const p = this._prev[s];
    const n = this._next[s];
    if (p === NIL) this._head[r] = n;
    else this._next[p] = n;
    if (n === NIL) this._tail[r] = p;
    else this._prev[n] = p;
  }

  _pushFront(r, s) {
    const head = this._head[r];
    this._where[s] = r;
    this._prev[s] = NIL;
    this._next[s] = head;
    if (head === NIL) this._tail[r] = s;
    else this._prev[head] = s;
    this._head[r] = s;
  }

  // Moves s to the most recently used end of region r.
  _move(s, r) {
    const from = this._where[s];
    const w = this._weights === null ? 1 : this._weights[s];
    this._weight[from] -= w;
    this._unlink(from, s);
    this._pushFront(r, s);
    this._weight[r] += w;
  }

  _setWeight(s, w) {
    const w32 = w < 0xffffffff ? w : 0xffffffff;
    if (this._weights === null) {
      if (w32 === 1) return;
      this._weights = new Uint32Array(this._where.length).fill(1);
    }
    this._weights[s] = w32;
  }

  // Whether window candidate c fits into main without a contest (the cache is filling). A fresh
  // slot heavier than the whole window overflows it whatever the other candidates do: that
  // excess counts against main, where the slot would be had it been decided at once.
  _mainHasRoomFor(c) {
    return (
      c !== NIL &&
      this._weight[PROBATION] +
        this._weight[PROTECTED] +
        (this._weights === null ? 1 : this._weights[c]) +
        this._freshExcess() <=
        this._capacity - this._windowMax
    );
  }

  // How much heavier than the whole window the fresh slot is (0 when it is not in the window).
  _freshExcess() {
    const f = this._fresh;
    if (f === NIL || this._where[f] !== WINDOW) return 0;
    const w = this._weights === null ? 1 : this._weights[f];
    return w <= this._windowMax ? 0 : w - this._windowMax;
  }

  // Probation's least recently used slot, else protected's; never the fresh slot.
  _mainVictim() {
    const v = this._oldestButFresh(PROBATION);
    return v !== NIL ? v : this._oldestButFresh(PROTECTED);
  }

  // TinyLFU admission: does the window's candidate deserve main's victim's place?
  _admit(c, v) {
    if ((this._weights === null ? 1 : this._weights[c]) > this._capacity - this._windowMax) {
      return false;
    }
    const fc = this._frequency(c);
    const fv = this._frequency(v);
    if (fc > fv) return true;
    if ((this._flags & F_COLD) !== 0 && fc === fv) return true;
    if (fc < WARM_THRESHOLD) return false;
    return (this._nextRandom() & RANDOM_ADMIT_MASK) === 0;
  }

  // xorshift64 (13, 7, 17) in halves; returns the low half.
  _nextRandom() {
    let hi = this._rngHi;
    let lo = this._rngLo;
    hi ^= (hi << 13) | (lo >>> 19);
    lo ^= lo << 13;
    lo ^= (lo >>> 7) | (hi << 25);
    hi ^= hi >>> 7;
    hi ^= (hi << 17) | (lo >>> 15);
    lo ^= lo << 17;
    this._rngHi = hi >>> 0;
    this._rngLo = lo >>> 0;
    return this._rngLo;
  }

  // ---- frequency sketch (frequency_sketch)

  // The sketch's remix of a slot's key (spread()), kept per slot: computed once per insert.
  _spread(s, key) {
    // x ^= x >> 31; x *= 0x7FB5D329728EA185; x ^= x >> 27; x *= 0x81DADEF4BC2DD44D;
    // x ^= x >> 33 (x starts below 2^32).
    const x = (key ^ (key >>> 31)) >>> 0;
    const ahi = mulHi64(0, x, 0x7fb5d329, 0x728ea185);
    const alo = Math.imul(x, 0x728ea185) >>> 0;
    const bhi = (ahi ^ (ahi >>> 27)) >>> 0;
    const blo = (alo ^ ((alo >>> 27) | (ahi << 5))) >>> 0;
    const chi = mulHi64(bhi, blo, 0x81dadef4, 0xbc2dd44d);
    this._sh[s] = chi;
    this._sl[s] = (Math.imul(blo, 0xbc2dd44d) ^ (chi >>> 1)) >>> 0;
  }

  // Four 4-bit saturating increments in one 64-byte block; every sampleSize increments all
  // counters are halved.
  _increment(s) {
    const table = this._table;
    if (table.length === 0) return;
    const base = (this._sh[s] & this._blockMask) << 4;
    const l = this._sl[s];
    for (let i = 0; i < 4; i++) {
      const sel = l >>> (i << 3);
      const at = base + (((i << 1) | (sel & 1)) << 1) + ((sel >>> 4) & 1);
      const shift = ((sel >>> 1) & 7) << 2;
      const word = table[at];
      if (((word >>> shift) & 15) !== 15) table[at] = word + (1 << shift);
    }
    if (++this._additions >= this._sampleSize) {
      for (let i = 0; i < table.length; i++) table[i] = (table[i] >>> 1) & 0x77777777;
      this._additions = Math.floor(this._additions / 2);
    }
  }

  // Estimated recent accesses of slot s's key, 0..15.
  _frequency(s) {
    const table = this._table;
    if (table.length === 0) return 0;
    const base = (this._sh[s] & this._blockMask) << 4;
    const l = this._sl[s];
    let f = 15;
    for (let i = 0; i < 4; i++) {
      const sel = l >>> (i << 3);
      const at = base + (((i << 1) | (sel & 1)) << 1) + ((sel >>> 4) & 1);
      const c = (table[at] >>> (((sel >>> 1) & 7) << 2)) & 15;
      if (c < f) f = c;
    }
    return f;
  }

  // ---- ghosts (remember / recall)

  // ghost_spread(key) = (x ^ x >> 29) x 0xBF58476D1CE4E5B9, folded (x ^ x >> 32): the cell is
  // its low word & mask, the fingerprint its top 16 bits (never 0).
  _remember(s, kind) {
    if (this._ghosts.length === 0) return;
    const key = this._keys[s];
    const x = (key ^ (key >>> 29)) >>> 0;
    const hi = mulHi64(0, x, 0xbf58476d, 0x1ce4e5b9);
    const at = ((Math.imul(x, 0x1ce4e5b9) ^ hi) >>> 0) & this._ghostMask;
    const e = kind === 0 ? ++this._evictions0 : ++this._evictions1;
    const stamp = Math.floor(e / this._ghostUnit) & 0x7fff;
    const fp = ((hi >>> 16) | 1) & 0xffff;
    this._ghosts[at] = ((fp << 16) | (kind << 15) | stamp) >>> 0;
  }

  _recall(key) {
    if (this._ghosts.length === 0) return;
    const x = (key ^ (key >>> 29)) >>> 0;
    const hi = mulHi64(0, x, 0xbf58476d, 0x1ce4e5b9);
    const at = ((Math.imul(x, 0x1ce4e5b9) ^ hi) >>> 0) & this._ghostMask;
    const g = this._ghosts[at];
    if (g >>> 16 !== (((hi >>> 16) | 1) & 0xffff)) return;
    this._flags &= ~F_COLD; // a key seen before
    const kind = (g >>> 15) & 1;
    const e = kind === 0 ? this._evictions0 : this._evictions1;
    const age = (Math.floor(e / this._ghostUnit) - g) & 0x7fff;
    this._ghosts[at] = 0;
    const entries = this._estimated;
    const reach = Math.max(GHOST_MIN_REACH, GHOST_REACH * entries);
    if (age * this._ghostUnit > reach) return;
    const d = GHOST_DELTA / entries;
    const share = this._windowShare + (kind === 0 ? d : -d);
    this._windowShare = share < 0 ? 0 : share > 1 ? 1 : share;
    this._applyWindowShare();
  }

  _applyWindowShare() {
    this._windowMax = this._latched ? this._capacity : scale(this._windowShare, this._capacity);
    this._protectedMax = scale(PROTECTED_SHARE, this._capacity - this._windowMax);
  }

  _sizeSketch() {
    // Entries the cache holds: its capacity when that counts items; when it counts bytes the
    // slot table (which grows with the entries) is the better guess.
    const e = Math.max(1, Math.min(this._capacity, this._slots));
    this._estimated = e;
    const entries = Math.min(Math.max(e, 8), 2 ** 26);
    const words = bitCeil(Math.max(8, Math.floor(SKETCH_WORDS * entries)));
    if (2 * words > this._table.length) {
      this._table = new Uint32Array(2 * words);
      this._blockMask = words / 8 - 1;
      this._sampleSize = 10 * entries;
      this._additions = 0;
    }
    const g = bitCeil(Math.max(64, Math.floor(GHOST_TABLE * e)));
    if (g > this._ghosts.length) {
      this._ghosts = new Uint32Array(g);
      this._ghostMask = g - 1;
      // Stamps wrap after 2^15 units: make that >= 16 x the table.
      let shift = 0;
      while (2 ** (15 + shift) < 16 * g) shift++;
      this._ghostUnit = 2 ** shift;
    }
    this._sizeDuel();
  }

  // ---- the LRU duel

  _sizeDuel() {
    this._flags &= ~F_DUEL;
    const cap = this._capacity;
    if (this._latched || cap === 0 || cap === Infinity) return;
    let shift = 0;
    while (shift < 30 && 2 ** shift < DUEL_MIN_RATE) shift++;
    while (shift < 30 && Math.floor(this._estimated / 2 ** (shift + 1)) >= DUEL_MINI_ENTRIES) {
      shift++;
    }
    const budget = Math.max(1, Math.floor(cap / 2 ** shift));
    // The estimate grows with the slots (an owner's table fills after setCapacity): the mini
    // LRU's keys and the epoch follow it, or the duel would judge by a 2-key LRU for good.
    const entries = Math.max(1, Math.floor(this._estimated / 2 ** shift));
    const mini = this._mini;
    if (
      mini.empty() ||
      shift !== this._duelShift ||
      budget !== mini.budget ||
      Math.max(16, entries) !== this._epoch
    ) {
      this._duelShift = shift;
      this._duelMask = 2 ** shift - 1;
      this._epoch = Math.max(16, entries);
      mini.reset(budget, Math.min(2 ** 24, 2 * entries));
      this._clearEvidence();
      this._sleepLeft = 0;
      this._warming = false;
    }
    if (this._sleepLeft === 0) this._flags |= F_DUEL;
  }

  _clearEvidence() {
    this._a = this._b = this._n = this._m = 0;
    this._evA = this._evB = this._evN = this._evM = 0;
    this._epochs = 0;
  }

  _wakeDuel() {
    this._mini.forgetAll();
    this._clearEvidence(); // what put it to sleep may be over
    this._warming = true;
    this._flags |= F_DUEL;
  }

  _unlatch() {
    this._latched = false;
    this._flags &= ~F_MIGRATING;
    this._mini = new MiniLru();
    this._sizeDuel();
    this._applyWindowShare();
  }

  // One sampled request: whether the mini LRU hit it, whether the policy did.
  _duelRequest(key, w, policyHit) {
    const lruHit = this._mini.access(key, w);
    if (lruHit && !policyHit) this._a++;
    if (policyHit && !lruHit) this._b++;
    if (!policyHit) this._m++;
    if (++this._n >= this._epoch) this._judgeEpoch();
  }

  _judgeEpoch() {
    if (this._warming) {
      // The first epoch after a sleep refilled the mini LRU: no verdict.
      this._warming = false;
      this._a = this._b = this._n = this._m = 0;
      return;
    }
    const m = DUEL_MEMORY;
    this._evA = this._evA * m + this._a;
    this._evB = this._evB * m + this._b;
    this._evN = this._evN * m + this._n;
    this._evM = this._evM * m + this._m;
    this._a = this._b = this._n = this._m = 0;
    const lead = this._evA - this._evB;
    const sigma = DUEL_SIGMA * Math.sqrt(this._evA + this._evB);
    this._epochs++;
    if (this._epochs < DUEL_MIN_EPOCHS) return;
    if (lead > sigma && (lead > DUEL_MARGIN * this._evN || lead > DUEL_MISS_MARGIN * this._evM)) {
      // Latch: the policy is exact LRU from now on (the window is the whole cache).
      this._latched = true;
      this._flags = (this._flags & ~F_DUEL) | F_MIGRATING;
      this._mini = new MiniLru();
      this._applyWindowShare();
    } else if (-lead > sigma || this._evM < DUEL_MARGIN * this._evN) {
      // Sleep: the policy leads decisively, or misses too rarely for LRU to win by the margin.
      this._flags &= ~F_DUEL;
      this._sleepLeft = Math.max(1, Math.floor(DUEL_SLEEP * this._epoch * 2 ** this._duelShift));
    }
  }
}

module.exports = { TinyLfu, sketchKey, sketchKey64, mulHigh32, mulHi64, NIL };
