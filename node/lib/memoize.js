'use strict';
// memoize.js: memoize(fn, { max, ttl, maxBytes, key, policy }) over a Cache.
//
// Keys, written for speed and exact identity. Every argument is part of the key:
//   - one primitive argument is its own Map key (numbers, booleans, null, undefined, symbols,
//     strings); a BigInt in the safe-integer range keys as the equal number (1n and 1 are one
//     key, as in the shared encoding, where integral values are integers whatever their type);
//   - several primitive arguments build one string, each argument tagged and self-delimiting,
//     behind a leading '\u0002';
//   - anything else (plain objects, arrays, Buffers, big BigInts, ...) is keyed by content
//     through the shared canonical encoding (keys.js encodeKey, the bytes C++ and Python build),
//     read as a latin1 string behind a leading '\u0001'.
// A single string argument that itself starts with '\u0000'..'\u0002' takes the encoded form, so
// the three kinds of key can never collide.
let { Cache } = require('./cache');
const { MAX_ENTRY_WEIGHT } = require('./cache');

// Native mode: memoize stands on the native Cache (set once by index.js at load).
function useCacheClass(C) {
  Cache = C;
}
const { clock } = require('./clock');
const { memoizeOptions } = require('./options');
const { typeError } = require('./errors');

let encodeKeyString = null;
function encodedKey(args) {
  if (encodeKeyString === null) encodeKeyString = require('./keys').encodeKeyString;
  return '\u0001' + encodeKeyString(Array.prototype.slice.call(args));
}

const MAX_SAFE = 9007199254740991;

// The key of one call's arguments (see above). Hot path.
function argsKey(args) {
  const n = args.length;
  if (n === 1) {
    const a = args[0];
    switch (typeof a) {
      case 'number':
      case 'boolean':
      case 'undefined':
      case 'symbol':
        return a;
      case 'string':
        return a.charCodeAt(0) > 2 || a.length === 0 ? a : encodedKey(args);
      case 'bigint':
        return a >= -MAX_SAFE && a <= MAX_SAFE ? Number(a) : encodedKey(args);
      default:
        return a === null ? null : encodedKey(args);
    }
  }
  if (n === 0) return '\u0002';
  let k = '\u0002';
  for (let i = 0; i < n; i++) {
    const a = args[i];
    switch (typeof a) {
      case 'number':
        if (!(a < 1e21 && a > -1e21) && a === a && a !== Infinity && a !== -Infinity) {
          return encodedKey(args); // String() switches to exponent form here
        }
        k += 'n' + a + ';';
        break;
      case 'string':
        k += 's' + a.length + ':' + a;
        break;
      case 'boolean':
        k += a ? 't' : 'f';
        break;
      case 'undefined':
        k += 'u';
        break;
      case 'bigint':
        if (a < -MAX_SAFE || a > MAX_SAFE) return encodedKey(args);
        k += 'n' + a + ';';
        break;
      default:
        if (a === null) k += 'z';
        else return encodedKey(args);
    }
  }
  return k;
}

function isThenable(v) {
  return (
    v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function'
  );
}

function memoize(fn, options) {
  if (typeof fn !== 'function') throw typeError('fn', 'a function', fn);
  const o = memoizeOptions(options);
  const cache = new Cache({
    max: o.max,
    ttl: o.ttl === 0 ? undefined : o.ttl,
    maxBytes: o.maxBytes,
    policy: o.policy,
  });
  const userKey = o.key === undefined ? null : o.key;
  const map = cache._map;
  const ttl = o.ttl;

  function keyOf(args) {
    if (userKey === null) return argsKey(args);
    const k = userKey.apply(undefined, args);
    if (typeof k !== 'string' && typeof k !== 'number') {
      throw typeError('key result', 'a string or a number', k);
    }
    return k;
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
            cache._drop(s);
          } else {
            cache._bytes += w - cache._w[s];
            cache._w[s] = w;
            cache._reweighed(s);
          }
        }
      },
      () => {
        const s = map.get(key);
        if (s !== undefined && cache._vals[s] === p) {
          cache._deleted++;
          cache._drop(s);
        }
      },
    );
  }

  // Hot path: key, one Map lookup, an expiry compare when ttl is set, the policy's touch.
  function memoized() {
    const key = keyOf(arguments);
    const s = map.get(key);
    if (s !== undefined) {
      const exp = cache._exp;
      if (exp === null || exp[s] === 0 || exp[s] > clock.now()) {
        cache._hits++;
        cache._touch(s);
        return cache._vals[s];
      }
      cache._expire(s);
    }
    cache._misses++;
    const value = fn.apply(this, arguments);
    const w = cache._weigh(key, value);
    if (w > cache._maxBytes || w > MAX_ENTRY_WEIGHT) {
      cache._rejected++;
      return value;
    }
    // fn may have filled this key re-entrantly; _store then updates in place.
    cache._store(key, value, w, ttl);
    if (isThenable(value)) track(key, value);
    return value;
  }

  Object.defineProperties(memoized, {
    cache: { value: cache, enumerable: true },
    clear: { value: () => cache.clear(), enumerable: true },
    delete: { value: (...args) => cache.delete(keyOf(args)), enumerable: true },
    stats: { value: () => cache.stats(), enumerable: true },
  });
  return memoized;
}

module.exports = { memoize, argsKey, useCacheClass };
