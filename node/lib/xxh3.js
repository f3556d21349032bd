'use strict';
// xxh3.js: XXH3-64 (seed 0, the default secret), the core's hash64 (core/include/twincache/hash.hpp),
// in 32-bit halves for inputs of 0 to 240 bytes, so that pure ByteCache feeds its policy the hash
// the native ByteCache's core computes for the same string key (the UTF-8 bytes), and so makes the
// same decisions. The algorithm and the secret are xxHash's (xxhash.h, XXH3_len_*_64b); the
// results are checked against the C library's in tests/node/xxh3.test.js.
//
// Longer inputs (over 240 bytes: XXH3's striped long path) are not ported: sketchKeyOfString
// gives such keys the pure Cache's string hash instead, so pure and native decisions may differ
// for keys over 240 UTF-8 bytes only (docs/node.md).
const { mulHigh32, mulHi64, sketchKey64, sketchKey } = require('./tinylfu');

const MIDSIZE_MAX = 240;

// XXH3_kSecret, the default 192-byte secret.
// prettier-ignore
const SECRET = new Uint8Array([
  0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
  0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
  0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
  0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
  0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
  0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
  0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
  0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
  0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
  0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
  0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
  0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
]);

const PRIME64_1_HI = 0x9e3779b1;
const PRIME64_1_LO = 0x85ebca87;
const PRIME64_2_HI = 0xc2b2ae3d;
const PRIME64_2_LO = 0x27d4eb4f;
const PRIME64_3_HI = 0x165667b1;
const PRIME64_3_LO = 0x9e3779f9;
const MX1_HI = 0x16566791;
const MX1_LO = 0x9e3779f9;
const MX2_HI = 0x9fb21c65;
const MX2_LO = 0x1e98df25;

function readLE32(b, i) {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

function bswap32(x) {
  return ((x >>> 24) | ((x >>> 8) & 0xff00) | ((x << 8) & 0xff0000) | (x << 24)) >>> 0;
}

// The result of the last hash (xxh3), and of the last mix16 (a 64-bit value as two words):
// module scratch, so nothing is allocated per call.
let outHi = 0;
let outLo = 0;
let mixHi = 0;
let mixLo = 0;

// XXH64_avalanche(hi:lo) into out.
function avalanche64(hi, lo) {
  let l = (lo ^ (hi >>> 1)) >>> 0; // h ^= h >> 33
  let h = hi;
  let ph = mulHi64(h, l, PRIME64_2_HI, PRIME64_2_LO); // h *= PRIME64_2
  let pl = Math.imul(l, PRIME64_2_LO) >>> 0;
  l = (pl ^ ((pl >>> 29) | (ph << 3))) >>> 0; // h ^= h >> 29
  h = (ph ^ (ph >>> 29)) >>> 0;
  ph = mulHi64(h, l, PRIME64_3_HI, PRIME64_3_LO); // h *= PRIME64_3
  pl = Math.imul(l, PRIME64_3_LO) >>> 0;
  outHi = ph; // h ^= h >> 32
  outLo = (pl ^ ph) >>> 0;
}

// XXH3_avalanche(hi:lo) into out.
function avalanche3(hi, lo) {
  const l = (lo ^ (hi >>> 5)) >>> 0; // h ^= h >> 37
  const ph = mulHi64(hi, l, MX1_HI, MX1_LO); // h *= PRIME_MX1
  const pl = Math.imul(l, MX1_LO) >>> 0;
  outHi = ph; // h ^= h >> 32
  outLo = (pl ^ ph) >>> 0;
}

// XXH3_mul128_fold64((ahi:alo), (bhi:blo)) into mix: the 128-bit product's halves xored.
function mulFold(ahi, alo, bhi, blo) {
  const llHi = mulHigh32(alo, blo);
  const llLo = Math.imul(alo, blo) >>> 0;
  const lhHi = mulHigh32(alo, bhi);
  const lhLo = Math.imul(alo, bhi) >>> 0;
  const hlHi = mulHigh32(ahi, blo);
  const hlLo = Math.imul(ahi, blo) >>> 0;
  const hhHi = mulHigh32(ahi, bhi);
  const hhLo = Math.imul(ahi, bhi) >>> 0;
  const t = llHi + lhLo + hlLo; // below 3 x 2^32: exact
  const w1 = t >>> 0;
  const u = lhHi + hlHi + hhLo + Math.floor(t / 4294967296);
  const w2 = u >>> 0;
  const w3 = (hhHi + Math.floor(u / 4294967296)) >>> 0;
  mixHi = (w1 ^ w3) >>> 0;
  mixLo = (llLo ^ w2) >>> 0;
}

// XXH3_mix16B(input + i, secret + j, seed 0) into mix.
function mix16(b, i, j) {
  mulFold(
    (readLE32(b, i + 4) ^ readLE32(SECRET, j + 4)) >>> 0,
    (readLE32(b, i) ^ readLE32(SECRET, j)) >>> 0,
    (readLE32(b, i + 12) ^ readLE32(SECRET, j + 12)) >>> 0,
    (readLE32(b, i + 8) ^ readLE32(SECRET, j + 8)) >>> 0,
  );
}

// XXH3_64bits(b[0..len)) for len <= 240, into outHi / outLo.
function xxh3(b, len) {
  if (len <= 16) {
    if (len > 8) {
      // input_lo = readLE64(b) ^ bitflip1; input_hi = readLE64(b + len - 8) ^ bitflip2
      const ilHi = (readLE32(b, 4) ^ readLE32(SECRET, 28) ^ readLE32(SECRET, 36)) >>> 0;
      const ilLo = (readLE32(b, 0) ^ readLE32(SECRET, 24) ^ readLE32(SECRET, 32)) >>> 0;
      const ihHi = (readLE32(b, len - 4) ^ readLE32(SECRET, 44) ^ readLE32(SECRET, 52)) >>> 0;
      const ihLo = (readLE32(b, len - 8) ^ readLE32(SECRET, 40) ^ readLE32(SECRET, 48)) >>> 0;
      mulFold(ilHi, ilLo, ihHi, ihLo);
      // acc = len + swap64(input_lo) + input_hi + fold
      let lo = len + bswap32(ilHi) + ihLo + mixLo; // below 2^35: exact
      const hi = (bswap32(ilLo) + ihHi + mixHi + Math.floor(lo / 4294967296)) >>> 0;
      lo >>>= 0;
      avalanche3(hi, lo);
      return;
    }
    if (len >= 4) {
      // keyed = (readLE32(b) << 32 | readLE32(b + len - 4)) ^ bitflip; XXH3_rrmxmx(keyed, len)
      const khi = (readLE32(b, 0) ^ readLE32(SECRET, 12) ^ readLE32(SECRET, 20)) >>> 0;
      const klo = (readLE32(b, len - 4) ^ readLE32(SECRET, 8) ^ readLE32(SECRET, 16)) >>> 0;
      const xhi = (khi ^ ((klo << 17) | (khi >>> 15)) ^ ((khi << 24) | (klo >>> 8))) >>> 0;
      const xlo = (klo ^ ((khi << 17) | (klo >>> 15)) ^ ((klo << 24) | (khi >>> 8))) >>> 0;
      const yhi = mulHi64(xhi, xlo, MX2_HI, MX2_LO);
      const ylo = ((Math.imul(xlo, MX2_LO) >>> 0) ^ ((yhi >>> 3) + len)) >>> 0;
      const zhi = mulHi64(yhi, ylo, MX2_HI, MX2_LO);
      const zlo = Math.imul(ylo, MX2_LO) >>> 0;
      outHi = (zhi ^ (zhi >>> 28)) >>> 0;
      outLo = (zlo ^ ((zlo >>> 28) | (zhi << 4))) >>> 0;
      return;
    }
    if (len > 0) {
      // combined = c1 << 16 | c2 << 24 | c3 | len << 8; keyed = combined ^ bitflip (32-bit)
      const combined = ((b[0] << 16) | (b[len >>> 1] << 24) | b[len - 1] | (len << 8)) >>> 0;
      avalanche64(0, (combined ^ readLE32(SECRET, 0) ^ readLE32(SECRET, 4)) >>> 0);
      return;
    }
    avalanche64(
      (readLE32(SECRET, 60) ^ readLE32(SECRET, 68)) >>> 0,
      (readLE32(SECRET, 56) ^ readLE32(SECRET, 64)) >>> 0,
    );
    return;
  }
  // acc = len * PRIME64_1, then sums of mix16 (mod 2^64)
  let hi = mulHi64(0, len, PRIME64_1_HI, PRIME64_1_LO);
  let lo = Math.imul(len, PRIME64_1_LO) >>> 0;
  if (len <= 128) {
    for (let k = (len - 1) >>> 5; k >= 0; k--) {
      mix16(b, 16 * k, 32 * k);
      lo += mixLo;
      hi += mixHi;
      mix16(b, len - 16 * (k + 1), 32 * k + 16);
      lo += mixLo;
      hi = (hi + mixHi + Math.floor(lo / 4294967296)) >>> 0;
      lo >>>= 0;
    }
    avalanche3(hi, lo);
    return;
  }
  for (let i = 0; i < 8; i++) {
    mix16(b, 16 * i, 16 * i);
    lo += mixLo;
    hi = (hi + mixHi + Math.floor(lo / 4294967296)) >>> 0;
    lo >>>= 0;
  }
  avalanche3(hi, lo);
  hi = outHi;
  lo = outLo;
  const rounds = len >>> 4;
  for (let i = 8; i < rounds; i++) {
    mix16(b, 16 * i, 16 * (i - 8) + 3);
    lo += mixLo;
    hi = (hi + mixHi + Math.floor(lo / 4294967296)) >>> 0;
    lo >>>= 0;
  }
  mix16(b, len - 16, 136 - 17);
  lo += mixLo;
  hi = (hi + mixHi + Math.floor(lo / 4294967296)) >>> 0;
  lo >>>= 0;
  avalanche3(hi, lo);
}

// A string's UTF-8 bytes go here (ASCII by a loop, others by encodeInto): no allocation.
const scratch = new Uint8Array(3 * MIDSIZE_MAX);
const encoder = new TextEncoder();

// The UTF-8 length of s written into scratch, or -1 when it exceeds MIDSIZE_MAX bytes.
function encode(s) {
  const n = s.length;
  if (n > MIDSIZE_MAX) return -1;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      const len = encoder.encodeInto(s, scratch).written;
      return len > MIDSIZE_MAX ? -1 : len;
    }
    scratch[i] = c;
  }
  return n;
}

// The policy's sketch key of a string key, as the core's: sketch_key(hash64(UTF-8 bytes)). A key
// over 240 UTF-8 bytes gets stringHash's (a 32-bit hash, cache.js hashString) sketch key instead.
function sketchKeyOfString(s, stringHash) {
  const len = encode(s);
  if (len < 0) return sketchKey(stringHash(s));
  xxh3(scratch, len);
  return sketchKey64(outHi, outLo);
}

// XXH3-64 of bytes (a Uint8Array of 0 to 240 bytes) as 16 hex digits: for tests.
function xxh3Hex(bytes) {
  if (bytes.length > MIDSIZE_MAX) throw new RangeError('xxh3Hex: at most 240 bytes');
  xxh3(bytes, bytes.length);
  return outHi.toString(16).padStart(8, '0') + outLo.toString(16).padStart(8, '0');
}

// The sketch key of bytes (0 to 240 of them): sketch_key(hash64(bytes)).
function sketchKeyOfBytes(bytes) {
  xxh3(bytes, bytes.length);
  return sketchKey64(outHi, outLo);
}

module.exports = { sketchKeyOfString, sketchKeyOfBytes, xxh3Hex, MIDSIZE_MAX };
