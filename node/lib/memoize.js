'use strict';
// memoize.js: memoize(fn, { max, ttl, maxBytes, key, policy }) over a Cache.
//
// Keys, written for speed and exact identity. Every argument is part of the key:
//   - one primitive argument is its own Map key (numbers, booleans, null, undefined, symbols,
//     strings); a BigInt in the safe-integer range keys as the equal number (1n and 1 are one
//     key, as in the shared encoding, where integral values are integers whatever their type);
//   - several primitive arguments are looked up in a trie of Maps, one level per argument (no
//     string is built, nothing is allocated on a hit); its leaves are small objects that serve
//     as the Cache keys, and a leaf leaves the trie when its entry leaves the cache;
//   - one plain object, Map with string keys, or array, whose members are all primitive, is
//     looked up in the same kind of trie (a level for the size, then name and value levels in
//     sorted name order, or the elements in order): the identity of the shared encoding, where
//     a plain object and a Map with the same entries are one key;
//   - anything else (nested containers, Buffers, Sets, big BigInts, ...) is keyed by content
//     through the shared canonical encoding (keys.js encodeKey, the bytes C++ and Python build),
//     read as a latin1 string behind a leading '\u0001'.
// A single string argument that itself starts with '\u0000'..'\u0002' takes the encoded form, so
// the kinds of key can never collide (trie leaves are objects, compared by identity).
//
// The identity rule: two argument lists share an entry iff encodeKey gives them the same bytes,
// and a list encodeKey refuses is refused with the encoder's own error (the fast paths hand such
// lists to it). So a BigInt equal to a float64 keys as that number (2n ** 60n is 2 ** 60), and
// strings with a lone surrogate, and plain objects with symbol-named properties, are refused.
// Strings are checked when a key is stored, not when one is looked up: a string that could not
// be stored is in no Map, so hits pay nothing for the check. The one deliberate extension: a
// symbol as an argument itself (not inside a container) keys by identity.
let { Cache } = require('./cache');
const { MAX_ENTRY_WEIGHT, KEY_HASH, hashKey } = require('./cache');

// Native mode: memoize stands on the native Cache (set once by index.js at load).
function useCacheClass(C) {
  Cache = C;
}
const { clock } = require('./clock');
const { memoizeOptions } = require('./options');
const { makeError, typeError } = require('./errors');

let encodeKeyString = null;
// `args`: an array of the call's arguments.
function encodedKey(args) {
  if (encodeKeyString === null) encodeKeyString = require('./keys').encodeKeyString;
  return '\u0001' + encodeKeyString(args);
}

const MAX_SAFE = 9007199254740991;
const UNDEFINED_ARG = Symbol('twincache: one undefined argument');

// Whether `s` has no lone surrogate (the encoder refuses those: UTF-8 cannot hold them).
const isWellFormed =
  typeof String.prototype.isWellFormed === 'function'
    ? (s) => s.isWellFormed()
    : (s) => !/\p{Surrogate}/u.test(s);

// The key of one call's arguments (see above). Hot path.
function argsKey(args) {
  const n = args.length;
  if (n === 1) {
    const a = args[0];
    switch (typeof a) {
      case 'number':
      case 'boolean':
      case 'symbol':
        return a;
      case 'undefined':
        return UNDEFINED_ARG; // undefined itself means "no key yet" to memoized()
      case 'string':
        return (a.charCodeAt(0) > 2 || a.length === 0) && isWellFormed(a) ? a : encodedKey(args);
      case 'bigint': {
        const x = bigintArg(a);
        return x === NOT_PRIMITIVE ? encodedKey(args) : x;
      }
      default:
        return a === null ? null : encodedKey(args);
    }
  }
  if (n === 0) return '\u0002';
  return encodedKey(args);
}

// Trie over the arguments of calls with 2+ primitive arguments: a level per argument.
class TrieNode {
  constructor(parent, arg) {
    this.map = new Map();
    this.parent = parent;
    this.arg = arg;
  }
}
// A leaf: the Cache key of one tuple of arguments.
// A leaf lives exactly as long as its cache entry, whose slot never moves: it remembers the slot,
// so a hit through a trie skips the Cache's own Map lookup.
class TupleKey {
  constructor(parent, arg) {
    this.parent = parent;
    this.arg = arg;
    this.slot = -1;
    // For the core's policy: the path's values hashed together (equal calls, equal hashes).
    let h = hashKey(arg) | 0;
    for (let node = parent; node !== null; node = node.parent) {
      h = Math.imul(h ^ (hashKey(node.arg) | 0), 0x01000193);
    }
    this[KEY_HASH] = h >>> 0;
  }
}

const NOT_PRIMITIVE = new TrieNode(null, undefined); // sentinel: key by content instead
// Trie roots besides the tuples' (which sit at their arity, >= 2).
const TUPLE = -1;
const ARRAYS = 0;
const OBJECTS = 1;

// A container's member as a trie key: as trieArg, but symbols go to the encoder (which refuses
// them, as it refuses them inside containers everywhere).
function memberArg(a) {
  return typeof a === 'symbol' ? NOT_PRIMITIVE : trieArg(a);
}

// A BigInt as the float64 of equal value when there is one (the encoding writes integral floats
// as integers, so 1n and 1, 2n ** 60n and 2 ** 60 are one key); else NOT_PRIMITIVE (the encoder
// keys it: no number equals it).
function bigintArg(a) {
  if (a >= -MAX_SAFE && a <= MAX_SAFE) return Number(a);
  const x = Number(a);
  return x !== Infinity && x !== -Infinity && BigInt(x) === a ? x : NOT_PRIMITIVE;
}

// The argument as a trie key: BigInts as the equal number where one exists (bigintArg);
// NOT_PRIMITIVE for objects, functions and other BigInts. Strings are taken as they are: see
// storable().
function trieArg(a) {
  const t = typeof a;
  if (t === 'object') return a === null ? null : NOT_PRIMITIVE;
  if (t === 'function') return NOT_PRIMITIVE;
  if (t === 'bigint') return bigintArg(a);
  return a;
}

// Whether the trie keys a[from..to) may be stored: no string among them has a lone surrogate.
// Checked only on a miss, before a path is made: an ill-formed string is never in a trie, so a
// lookup that meets one finds nothing and comes here.
function storable(a, from, to) {
  for (let i = from; i < to; i++) {
    const v = a[i];
    if (typeof v === 'string' && !isWellFormed(v)) return false;
  }
  return true;
}

function isThenable(v) {
  return (
    v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function'
  );
}

function memoizeImpl(fn, o) {
  const cache = new Cache({
    max: o.max,
    ttl: o.ttl === 0 ? undefined : o.ttl,
    maxBytes: o.maxBytes,
    policy: o.policy,
    // dispose sees the key option's result; memoize's own keys are opaque: undefined.
    dispose:
      o.dispose === undefined || o.key !== undefined
        ? o.dispose
        : (value, key, reason) => o.dispose(value, undefined, reason),
  });
  const userKey = o.key === undefined ? null : o.key;
  const map = cache._map;
  const ttl = o.ttl;
  let roots = []; // arity (tuples), ARRAYS or OBJECTS -> TrieNode
  let pending = TUPLE; // which trie the last keyOf() looked in

  // Hot path for 2+ primitive arguments: the TupleKey, undefined when the tuple was never
  // stored, or NOT_PRIMITIVE.
  function findTuple(args, n) {
    let node = roots[n];
    if (node === undefined) {
      for (let i = 0; i < n; i++) if (trieArg(args[i]) === NOT_PRIMITIVE) return NOT_PRIMITIVE;
      return undefined;
    }
    for (let i = 0; i < n; i++) {
      const a = trieArg(args[i]);
      if (a === NOT_PRIMITIVE) return NOT_PRIMITIVE;
      node = node.map.get(a);
      if (node === undefined) {
        for (let j = i + 1; j < n; j++)
          if (trieArg(args[j]) === NOT_PRIMITIVE) return NOT_PRIMITIVE;
        return undefined;
      }
    }
    return node;
  }

  // Adds the path of a tuple (all primitive) and returns its leaf.
  function makeTuple(args, n) {
    let node = roots[n];
    if (node === undefined) node = roots[n] = new TrieNode(null, n);
    for (let i = 0; i < n - 1; i++) {
      const a = trieArg(args[i]);
      let next = node.map.get(a);
      if (next === undefined) {
        next = new TrieNode(node, a);
        node.map.set(a, next);
      }
      node = next;
    }
    const last = trieArg(args[n - 1]);
    let leaf = node.map.get(last);
    if (leaf === undefined) {
      leaf = new TupleKey(node, last);
      node.map.set(last, leaf);
    }
    return leaf;
  }

  // One container argument whose members are all primitive: its members go into `scratch`
  // (size first) and it is found under objRoot (plain objects and Maps) or arrRoot (arrays).
  // Returns the root to walk, or NOT_PRIMITIVE.
  let scratchLen = 0;
  const scratch = [];
  function shallow(o) {
    if (Array.isArray(o)) {
      const n = o.length;
      scratch[0] = n;
      for (let i = 0; i < n; i++) {
        const a = memberArg(o[i]);
        if (a === NOT_PRIMITIVE) return NOT_PRIMITIVE;
        scratch[i + 1] = a;
      }
      scratchLen = n + 1;
      return ARRAYS;
    }
    let names;
    let map = null;
    const proto = Object.getPrototypeOf(o);
    if (proto === Object.prototype || proto === null) {
      // Object.keys skips symbol-named properties, which the encoder refuses.
      if (Object.getOwnPropertySymbols(o).length !== 0) return NOT_PRIMITIVE;
      names = Object.keys(o);
    } else if (o instanceof Map) {
      map = o;
      names = [];
      for (const k of o.keys()) {
        if (typeof k !== 'string') return NOT_PRIMITIVE;
        names.push(k);
      }
    } else {
      return NOT_PRIMITIVE;
    }
    const n = names.length;
    for (let i = 1; i < n; i++) {
      if (names[i - 1] > names[i]) {
        names.sort();
        break;
      }
    }
    scratch[0] = n;
    for (let i = 0; i < n; i++) {
      const v = memberArg(map === null ? o[names[i]] : map.get(names[i]));
      if (v === NOT_PRIMITIVE) return NOT_PRIMITIVE;
      scratch[2 * i + 1] = names[i];
      scratch[2 * i + 2] = v;
    }
    scratchLen = 2 * n + 1;
    return OBJECTS;
  }

  // The leaf of scratch[0..scratchLen) under root `which`, or undefined.
  function findPath(which) {
    let node = roots[which];
    for (let i = 0; node !== undefined && i < scratchLen; i++) node = node.map.get(scratch[i]);
    return node;
  }

  function makePath(which) {
    let node = roots[which];
    if (node === undefined) node = roots[which] = new TrieNode(null, which);
    for (let i = 0; i < scratchLen - 1; i++) {
      let next = node.map.get(scratch[i]);
      if (next === undefined) {
        next = new TrieNode(node, scratch[i]);
        node.map.set(scratch[i], next);
      }
      node = next;
    }
    const last = scratch[scratchLen - 1];
    let leaf = node.map.get(last);
    if (leaf === undefined) {
      leaf = new TupleKey(node, last);
      node.map.set(last, leaf);
    }
    return leaf;
  }

  // An entry left the cache: a tuple's path leaves the trie with it.
  cache._onDrop = (key) => {
    if (!(key instanceof TupleKey)) return;
    let node = key.parent;
    node.map.delete(key.arg);
    while (node.map.size === 0 && node.parent !== null) {
      node.parent.map.delete(node.arg);
      node = node.parent;
    }
    if (node.map.size === 0 && node.parent === null) roots[node.arg] = undefined;
  };
  cache._onClear = () => {
    roots = [];
  };

  // The Cache key of a call: undefined when it is a tuple not stored yet.
  function keyOf(args) {
    if (userKey === null) {
      const n = args.length;
      if (n === 1) {
        const a = args[0];
        if (typeof a !== 'object' || a === null) return argsKey(args);
        pending = shallow(a);
        if (pending === NOT_PRIMITIVE) return encodedKey(args);
        const leaf = findPath(pending);
        // A miss: a path with an ill-formed string may not be made; the encoder throws why.
        if (leaf === undefined && !storable(scratch, 1, scratchLen)) return encodedKey(args);
        return leaf;
      }
      pending = TUPLE;
      if (n === 0) return argsKey(args);
      const k = findTuple(args, n);
      if (k === NOT_PRIMITIVE || (k === undefined && !storable(args, 0, n))) {
        return encodedKey(args);
      }
      return k;
    }
    const k = userKey.apply(undefined, args);
    if (typeof k !== 'string' && typeof k !== 'number') {
      throw typeError('key result', 'a string or a number', k);
    }
    return k;
  }

  function isThenable(v) {
    return (
      v !== null &&
      (typeof v === 'object' || typeof v === 'function') &&
      typeof v.then === 'function'
    );
  }

  // A promise result: concurrent calls share it; a rejection removes it (not cached); once
  // resolved, its entry is re-weighed by the resolved value.
  function track(key, p) {
    p.then(
      (value) => {
        const s = map.get(key);
        if (s !== undefined && cache._vals[s] === p) {
          const w = cache._weigh(key, value);
          if (w > cache._maxBytes || w > MAX_ENTRY_WEIGHT) {
            cache._rejected++;
            if (cache._dispose !== null) cache._queueDispose(s, 'evicted');
            cache._drop(s);
          } else {
            cache._bytes += w - cache._w[s];
            cache._w[s] = w;
            cache._reweighed(s);
          }
          if (cache._disposals !== null) cache._flushDisposals();
        }
      },
      () => {
        const s = map.get(key);
        if (s !== undefined && cache._vals[s] === p) {
          cache._deleted++;
          if (cache._dispose !== null) cache._queueDispose(s, 'deleted');
          cache._drop(s);
          if (cache._disposals !== null) cache._flushDisposals();
        }
      },
    );
  }

  // Hot path. `arguments` never escapes this function (it is only counted and indexed), so V8
  // does not allocate an arguments object: the one-argument hit below allocates nothing.
  function memoized(a, b, c) {
    const n = arguments.length;
    // Two or three primitive arguments, cached and live: walk the trie inline (trieArg's
    // NOT_PRIMITIVE is in no Map, so other arguments fall through to call()).
    if ((n === 2 || n === 3) && userKey === null) {
      let node = roots[n];
      if (node !== undefined) node = node.map.get(trieArg(a));
      if (node !== undefined) node = node.map.get(trieArg(b));
      if (n === 3 && node !== undefined) node = node.map.get(trieArg(c));
      if (node !== undefined) {
        const s = node.slot;
        const exp = cache._exp;
        if (exp === null || exp[s] === 0 || exp[s] > clock.now()) {
          cache._hits++;
          cache._touch(s);
          return cache._vals[s];
        }
      }
    }
    // Fastest path: one number or plain string argument that is cached and live.
    if (n === 1 && userKey === null) {
      const t = typeof a;
      if (t === 'number' || (t === 'string' && a.charCodeAt(0) > 2)) {
        const s = map.get(a);
        if (s !== undefined) {
          const exp = cache._exp;
          if (exp === null || exp[s] === 0 || exp[s] > clock.now()) {
            cache._hits++;
            cache._touch(s);
            return cache._vals[s];
          }
        }
      }
    }
    const args = new Array(n);
    for (let i = 0; i < n; i++) args[i] = arguments[i];
    return call(this, args);
  }

  // Every other call: key, one lookup (a trie leaf knows its slot), an expiry compare when ttl
  // is set, the policy's touch; on a miss, fn runs and its result is stored.
  function call(self, args) {
    let key = keyOf(args);
    const kind = pending; // fn may re-enter memoized() and move `pending`
    const s = key === undefined ? undefined : key instanceof TupleKey ? key.slot : map.get(key);
    if (s !== undefined) {
      const exp = cache._exp;
      if (exp === null || exp[s] === 0 || exp[s] > clock.now()) {
        cache._hits++;
        cache._touch(s);
        return cache._vals[s];
      }
      cache._expire(s);
      if (key instanceof TupleKey) key = undefined; // its trie path left with the entry
      if (cache._disposals !== null) cache._flushDisposals();
    }
    cache._misses++;
    const value = fn.apply(self, args);
    // A tuple's trie path is made only when its entry is stored (the trie never outgrows the
    // cache).
    const w = cache._weigh(key === undefined ? NOT_PRIMITIVE : key, value);
    if (w > cache._maxBytes || w > MAX_ENTRY_WEIGHT) {
      cache._rejected++;
      return value;
    }
    if (key === undefined) {
      // A path not in a trie yet; for containers, fn may have re-entered: take them again.
      if (kind === TUPLE) key = makeTuple(args, args.length);
      else {
        const which = shallow(args[0]);
        // fn mutated its argument into something with a lone surrogate: not cached.
        if (which !== NOT_PRIMITIVE && !storable(scratch, 1, scratchLen)) return value;
        key = which === NOT_PRIMITIVE ? encodedKey(args) : makePath(which);
      }
    }
    // fn may have filled this key re-entrantly; _store then updates in place.
    const slot = cache._store(key, value, w, ttl);
    if (key instanceof TupleKey) key.slot = slot;
    if (isThenable(value)) track(key, value);
    if (cache._disposals !== null) cache._flushDisposals();
    return value;
  }

  Object.defineProperties(memoized, {
    cache: { value: cache, enumerable: true },
    clear: { value: () => cache.clear(), enumerable: true },
    delete: {
      value: (...args) => {
        const key = keyOf(args);
        return key === undefined ? false : cache.delete(key);
      },
      enumerable: true,
    },
    stats: { value: () => cache.stats(), enumerable: true },
  });
  return memoized;
}

// memoize(fn, { backend: 'disk', path, ... }) is the persistent tier's (disk.js memoizeDisk),
// backend 'redis' the Redis tier's (redis.js memoizeRedis);
// backend 'memory' (the default) is this file's.
function memoize(fn, options) {
  if (typeof fn !== 'function') throw typeError('fn', 'a function', fn);
  // The wrapper carries fn's name, as p-memoize's does: stack traces and metrics' default
  // `cache` label (docs/metrics.md) name the user's function, not this file's.
  const memoized = memoizeAny(fn, options);
  Object.defineProperty(memoized, 'name', { value: fn.name, configurable: true });
  return memoized;
}

function memoizeAny(fn, options) {
  if (options !== null && typeof options === 'object' && options.backend !== undefined) {
    const backend = options.backend;
    if (typeof backend !== 'string') throw typeError('backend', 'a string', backend);
    if (backend === 'disk') return require('./disk').memoizeDisk(fn, options);
    if (backend === 'redis') return require('./redis').memoizeRedis(fn, options);
    if (backend !== 'memory') {
      throw makeError(
        'out_of_range',
        `backend must be one of 'memory', 'disk', 'redis' (got '${backend}')`,
      );
    }
    const { backend: _memory, ...rest } = options;
    options = rest;
  }
  const o = memoizeOptions(options);
  // Freshness options (fresh.js) take their own call path; without them nothing changes here.
  if (o.fresh) return require('./fresh').freshMemoize(fn, o, Cache);
  return memoizeImpl(fn, o);
}

module.exports = { memoize, argsKey, useCacheClass };
