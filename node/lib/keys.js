'use strict';
// keys.js: the pure-JS key encoder: the canonical key encoding of docs/keys.md (the bytes the C++
// core's key_builder and python/twincache/_keys.py build, frozen by tests/vectors/keys.json) and
// XXH3-128, implemented here from xxHash's algorithm description, for the hash that names a key
// outside the process.
//
//   encodeKey(value) -> Buffer        the encoding (version byte first); a fresh Buffer
//   encodeKeyString(value) -> string  the same bytes as a latin1 string (for Map keys)
//   hash128Hex(value) -> string       XXH3-128 of encodeKey(value): 32 hex digits, high half first
//   xxh3128Hex(bytes) -> string       XXH3-128 (seed 0) of any bytes
//   new KeyBuffer(dtype, shape, data) an n-dimensional array to key as a typed buffer
//
// JS values: null; undefined (its own tag: JS only); booleans; numbers (integral ones are
// integers, so 1 and 1n and Python's 1 and 1.0 meet; -0 is 0; one NaN); BigInts; strings
// (lone surrogates are a RangeError); Buffer / Uint8Array / ArrayBuffer / SharedArrayBuffer /
// DataView are bytes; the other TypedArrays are 1-D typed buffers ('<f8' for Float64Array...);
// arrays; plain objects (prototype Object.prototype or null; string keys only) and Maps are maps;
// Sets are sets. Anything else (functions, symbols, class instances, Dates, ...) is a TypeError
// with code ERR_TWINCACHE_INVALID_ARGUMENT.
//
// Hot path: memoize keys non-primitive arguments through encodeKey in pure mode. One writer and
// its buffer are reused across calls (a fresh one only when encodeKey re-enters itself, e.g. from
// a getter); small integers and short ASCII strings are written byte by byte without temporaries;
// only maps and sets with 2+ entries sort anything (in place, by index). The hash is needed only
// for keys that leave the process: BigInt arithmetic for short inputs (a few µs), 32-bit halves for
// the long loop.

const os = require('os');
const { makeError } = require('./errors');

const VERSION = 1;
const MAX_DEPTH = 64;

const TAG_NULL = 0x00;
const TAG_FALSE = 0x01;
const TAG_TRUE = 0x02;
const TAG_INT_NONNEGATIVE = 0x03;
const TAG_INT_NEGATIVE = 0x04;
const TAG_FLOAT64 = 0x05;
const TAG_STRING = 0x06;
const TAG_BYTES = 0x07;
const TAG_LIST = 0x08;
const TAG_MAP = 0x09;
const TAG_SET = 0x0a;
const TAG_BUFFER = 0x0b;
const TAG_UNDEFINED = 0x0c;

const MAX_SAFE = 9007199254740991;
const LITTLE_ENDIAN = os.endianness() === 'LE';
const DEPTH_MESSAGE =
  'key nesting depth must be at most 64 containers (got deeper: a cyclic or too deeply nested ' +
  'argument)';

// TypedArrays that are typed buffers, with their normalized numpy dtype.
const DTYPES = [
  [Int8Array, '|i1'],
  [Uint8ClampedArray, '|u1'],
  [Int16Array, '<i2'],
  [Uint16Array, '<u2'],
  [Int32Array, '<i4'],
  [Uint32Array, '<u4'],
  [Float32Array, '<f4'],
  [Float64Array, '<f8'],
  [BigInt64Array, '<i8'],
  [BigUint64Array, '<u8'],
];
if (typeof globalThis.Float16Array === 'function') DTYPES.push([globalThis.Float16Array, '<f2']);
const DTYPE_BY_CONSTRUCTOR = new Map(DTYPES);

function unkeyable(what) {
  return makeError('invalid_argument', `cannot build a key from ${what}`);
}

function describeObject(v) {
  const proto = Object.getPrototypeOf(v);
  const ctor = proto && proto.constructor;
  return ctor && typeof ctor.name === 'string' && ctor.name
    ? `an instance of ${ctor.name}`
    : 'an object';
}

// ---- typed buffers -----------------------------------------------------------------------------

// Item size of a normalized numpy dtype string, or -1 (the rules of core/src/key_builder.cpp).
function dtypeItemsize(d) {
  const m = /^([<|])([biufcmMSUV])(0|[1-9][0-9]*)(\[[0-9A-Za-z]+\])?$/.exec(d);
  if (m === null) return -1;
  const [, order, kind, digitText, unit] = m;
  const digits = Number(digitText);
  if (unit !== undefined && kind !== 'm' && kind !== 'M') return -1;
  const allowed = {
    b: [1],
    i: [1, 2, 4, 8],
    u: [1, 2, 4, 8],
    f: [2, 4, 8, 12, 16],
    c: [8, 16, 24, 32],
    m: [8],
    M: [8],
  }[kind];
  if (allowed !== undefined && !allowed.includes(digits)) return -1;
  const itemsize = kind === 'U' ? digits * 4 : digits;
  const orderFree = kind === 'S' || kind === 'V' || itemsize === 1;
  if ((order === '|') !== orderFree) return -1;
  return itemsize;
}

// An n-dimensional array for a key: a normalized numpy dtype string ('<f8', '|u1', '<M8[ns]'),
// its shape, and its bytes in C order with little-endian items (any TypedArray, Buffer or
// ArrayBuffer; its bytes are used as they are). Checked here, as the core checks.
class KeyBuffer {
  constructor(dtype, shape, data, what = 'key buffer') {
    if (typeof dtype !== 'string' || dtypeItemsize(dtype) < 0) {
      throw makeError(
        'invalid_argument',
        `${what} dtype must be a normalized numpy dtype string: '<' or '|', a kind in ` +
          `"biufcmMSUV" and an item size, such as '<f8' or '|u1' (got '${String(dtype)}')`,
      );
    }
    const dims = Array.from(shape, Number);
    const shapeText = '(' + dims.join(', ') + (dims.length === 1 ? ',)' : ')');
    if (dims.length > 64) {
      throw makeError(
        'out_of_range',
        `${what} shape must have at most 64 dimensions (got ${dims.length})`,
      );
    }
    if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw makeError('out_of_range', `${what} shape must have dimensions >= 0 (got ${shapeText})`);
    }
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : toBytes(data);
    if (bytes === null) throw unkeyable(`${what} data that is not bytes or a TypedArray`);
    let expected = BigInt(dtypeItemsize(dtype));
    for (const d of dims) expected *= BigInt(d);
    if (expected !== BigInt(bytes.length)) {
      throw makeError(
        'out_of_range',
        `${what} data must be product(shape) * itemsize bytes for dtype '${dtype}' and shape ` +
          `${shapeText} (got ${bytes.length} bytes)`,
      );
    }
    this.dtype = dtype;
    this.shape = dims;
    this.data = bytes;
  }
}

// Buffer / Uint8Array / ArrayBuffer / SharedArrayBuffer / DataView as a Uint8Array view, or null.
function toBytes(v) {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (typeof SharedArrayBuffer === 'function' && v instanceof SharedArrayBuffer) {
    return new Uint8Array(v);
  }
  if (v instanceof DataView) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return null;
}

// ---- the writer --------------------------------------------------------------------------------

class Writer {
  constructor() {
    this.buf = Buffer.allocUnsafe(256);
    this.len = 0;
    this.busy = false;
    this.digits = [0, 0, 0, 0, 0, 0, 0, 0];
    this.scratch = null;
  }

  ensure(n) {
    if (this.len + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.len + n, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
  }

  // Caller ensured 8 bytes of room.
  varint(n) {
    const buf = this.buf;
    while (n >= 0x80) {
      buf[this.len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[this.len++] = n;
  }

  value(v, depth) {
    switch (typeof v) {
      case 'number':
        return this.number(v);
      case 'string':
        return this.string(v);
      case 'boolean':
        this.ensure(1);
        this.buf[this.len++] = v ? TAG_TRUE : TAG_FALSE;
        return;
      case 'undefined':
        this.ensure(1);
        this.buf[this.len++] = TAG_UNDEFINED;
        return;
      case 'bigint':
        return this.bigint(v);
      case 'object':
        return this.object(v, depth);
      case 'function':
        throw unkeyable('a function');
      case 'symbol':
        throw unkeyable('a symbol');
      default:
        throw unkeyable(`a value of type ${typeof v}`);
    }
  }

  // Hot path: safe integers are written from up to 7 base-256 digits.
  number(v) {
    if (Number.isInteger(v)) {
      if (v > MAX_SAFE || v < -MAX_SAFE) return this.bigint(BigInt(v));
      this.ensure(9);
      const buf = this.buf;
      let m = v;
      if (v < 0) {
        buf[this.len++] = TAG_INT_NEGATIVE;
        m = -v;
      } else {
        buf[this.len++] = TAG_INT_NONNEGATIVE; // -0 lands here: it is 0
      }
      if (m < 0x100) {
        if (m === 0) {
          buf[this.len++] = 0;
        } else {
          buf[this.len++] = 1;
          buf[this.len++] = m;
        }
        return;
      }
      const digits = this.digits;
      let n = 0;
      while (m > 0) {
        digits[n++] = m % 0x100;
        m = Math.floor(m / 0x100);
      }
      buf[this.len++] = n;
      while (n > 0) buf[this.len++] = digits[--n];
      return;
    }
    this.ensure(9);
    this.buf[this.len++] = TAG_FLOAT64;
    if (v !== v) {
      this.buf.writeUInt32LE(0, this.len); // the one NaN: 0x7ff8000000000000
      this.buf.writeUInt32LE(0x7ff80000, this.len + 4);
    } else {
      this.buf.writeDoubleLE(v, this.len); // finite non-integral, or an infinity
    }
    this.len += 8;
  }

  bigint(v) {
    const negative = v < 0n;
    const m = negative ? -v : v;
    this.ensure(1);
    this.buf[this.len++] = negative ? TAG_INT_NEGATIVE : TAG_INT_NONNEGATIVE;
    if (m === 0n) {
      this.ensure(1);
      this.buf[this.len++] = 0;
      return;
    }
    let hex = m.toString(16);
    if (hex.length % 2 === 1) hex = '0' + hex;
    const n = hex.length / 2;
    this.ensure(8 + n);
    this.varint(n);
    this.buf.write(hex, this.len, n, 'hex');
    this.len += n;
  }

  string(s) {
    const n = s.length;
    if (n < 64) {
      // Fast path: short ASCII strings, one byte per char.
      this.ensure(2 + n);
      const buf = this.buf;
      const start = this.len;
      buf[start] = TAG_STRING;
      buf[start + 1] = n;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + 2 + i] = c;
      }
      if (i === n) {
        this.len = start + 2 + n;
        return;
      }
    }
    checkWellFormed(s);
    const bytes = Buffer.byteLength(s, 'utf8');
    this.ensure(9 + bytes);
    this.buf[this.len++] = TAG_STRING;
    this.varint(bytes);
    this.len += this.buf.write(s, this.len, bytes, 'utf8');
  }

  bytes(u8) {
    const n = u8.length;
    this.ensure(9 + n);
    this.buf[this.len++] = TAG_BYTES;
    this.varint(n);
    this.buf.set(u8, this.len);
    this.len += n;
  }

  typedBuffer(dtype, shape, data, itemsize) {
    const n = data.length;
    this.ensure(1 + 8 + dtype.length + 8 + 8 * shape.length + 8 + n);
    const buf = this.buf;
    buf[this.len++] = TAG_BUFFER;
    this.varint(dtype.length);
    this.len += buf.write(dtype, this.len, 'latin1');
    this.varint(shape.length);
    for (const d of shape) this.varint(d);
    this.varint(n);
    buf.set(data, this.len);
    if (!LITTLE_ENDIAN && itemsize > 1) {
      // Items are little-endian in a key: swap each in place.
      for (let at = this.len; at < this.len + n; at += itemsize) {
        buf.subarray(at, at + itemsize).reverse();
      }
    }
    this.len += n;
  }

  object(v, depth) {
    if (v === null) {
      this.ensure(1);
      this.buf[this.len++] = TAG_NULL;
      return;
    }
    if (Array.isArray(v)) {
      if (depth >= MAX_DEPTH) throw makeError('out_of_range', DEPTH_MESSAGE);
      const n = v.length;
      this.ensure(9);
      this.buf[this.len++] = TAG_LIST;
      this.varint(n);
      for (let i = 0; i < n; i++) this.value(v[i], depth + 1);
      return;
    }
    if (ArrayBuffer.isView(v)) {
      if (v instanceof Uint8Array || v instanceof DataView) {
        return this.bytes(toBytes(v));
      }
      let dtype = DTYPE_BY_CONSTRUCTOR.get(v.constructor);
      if (dtype === undefined) {
        for (const [ctor, d] of DTYPES) if (v instanceof ctor) dtype = d;
      }
      if (dtype === undefined) throw unkeyable(describeObject(v));
      const data = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      return this.typedBuffer(dtype, [v.length], data, v.BYTES_PER_ELEMENT);
    }
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) return this.plainObject(v, depth);
    if (v instanceof Map) return this.map(v, depth);
    if (v instanceof Set) return this.set(v, depth);
    if (v instanceof KeyBuffer) {
      return this.typedBuffer(v.dtype, v.shape, v.data, 1); // bytes as given: no swap
    }
    const bytes = toBytes(v);
    if (bytes !== null) return this.bytes(bytes);
    throw unkeyable(describeObject(v));
  }

  // Maps and sets: each element (a pair's key and value, or a set member) is written in place,
  // then the elements' encodings are sorted bytewise, duplicates dropped, and written back.
  beginUnordered(depth) {
    if (depth >= MAX_DEPTH) throw makeError('out_of_range', DEPTH_MESSAGE);
    return this.len;
  }

  endUnordered(tag, start, bounds) {
    // Element i spans bounds[i] .. bounds[i + 1]. Sorted as index ranges and compared in place;
    // elements are copied with JS loops when short (a native copy costs more than a few bytes).
    const count = bounds.length;
    bounds.push(this.len);
    const buf = this.buf;
    const order = new Array(count);
    for (let i = 0; i < count; i++) {
      // Insertion sort: maps and sets in arguments are small.
      let j = i;
      while (j > 0) {
        const p = order[j - 1];
        if (compareRanges(buf, bounds[i], bounds[i + 1], bounds[p], bounds[p + 1]) >= 0) break;
        order[j] = p;
        j--;
      }
      order[j] = i;
    }
    const body = this.len - start;
    if (this.scratch === null || this.scratch.length < body) {
      this.scratch = Buffer.allocUnsafe(Math.max(body, 256));
    }
    const scratch = this.scratch;
    let used = 0;
    let unique = 0;
    let prev = -1;
    for (let k = 0; k < count; k++) {
      const i = order[k];
      const from = bounds[i];
      const to = bounds[i + 1];
      if (prev >= 0 && compareRanges(buf, bounds[prev], bounds[prev + 1], from, to) === 0) continue;
      prev = i;
      used = copyBytes(buf, from, to, scratch, used);
      unique++;
    }
    this.len = start;
    this.ensure(9 + used);
    this.buf[this.len++] = tag;
    this.varint(unique);
    this.len = copyBytes(scratch, 0, used, this.buf, this.len);
  }

  plainObject(o, depth) {
    const start = this.beginUnordered(depth);
    if (Object.getOwnPropertySymbols(o).length !== 0) throw unkeyable('an object with symbol keys');
    const names = Object.keys(o);
    const bounds = new Array(names.length);
    for (let i = 0; i < names.length; i++) {
      bounds[i] = this.len;
      this.string(names[i]);
      this.value(o[names[i]], depth + 1);
    }
    this.endUnordered(TAG_MAP, start, bounds);
  }

  map(m, depth) {
    const start = this.beginUnordered(depth);
    const bounds = [];
    for (const [k, v] of m) {
      bounds.push(this.len);
      this.value(k, depth + 1);
      this.value(v, depth + 1);
    }
    this.endUnordered(TAG_MAP, start, bounds);
  }

  set(s, depth) {
    const start = this.beginUnordered(depth);
    const bounds = [];
    for (const v of s) {
      bounds.push(this.len);
      this.value(v, depth + 1);
    }
    this.endUnordered(TAG_SET, start, bounds);
  }
}

// Bytewise comparison of buf[a0, a1) and buf[b0, b1), as memcmp then length. Encodings of map and
// set elements are short, so a JS loop beats a native call.
function compareRanges(buf, a0, a1, b0, b1) {
  const n = Math.min(a1 - a0, b1 - b0);
  for (let i = 0; i < n; i++) {
    const d = buf[a0 + i] - buf[b0 + i];
    if (d !== 0) return d;
  }
  return a1 - a0 - (b1 - b0);
}

// Copies src[from, to) to dst at `at`; returns the end offset in dst.
function copyBytes(src, from, to, dst, at) {
  const n = to - from;
  if (n > 32) return at + src.copy(dst, at, from, to);
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i];
  return at + n;
}

const hasIsWellFormed = typeof String.prototype.isWellFormed === 'function';

function checkWellFormed(s) {
  if (hasIsWellFormed && s.isWellFormed()) return;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    const hex = c.toString(16).toUpperCase();
    throw makeError(
      'out_of_range',
      `key string must be valid Unicode (lone surrogate U+${hex} at index ${i})`,
    );
  }
}

const shared = new Writer();

// Runs the writer over `value` and hands its bytes to `done(buf, len)`.
function withWriter(value, done) {
  // Re-entered (a getter that builds a key): use a fresh writer.
  const w = shared.busy ? new Writer() : shared;
  w.busy = true;
  try {
    w.len = 0;
    w.buf[w.len++] = VERSION;
    w.value(value, 0);
    return done(w.buf, w.len);
  } finally {
    w.busy = false;
  }
}

function copyOut(buf, len) {
  const out = Buffer.allocUnsafe(len);
  if (len <= 64) {
    for (let i = 0; i < len; i++) out[i] = buf[i]; // cheaper than a native copy when short
  } else {
    buf.copy(out, 0, 0, len);
  }
  return out;
}

function latin1Out(buf, len) {
  return buf.latin1Slice(0, len);
}

function encodeKey(value) {
  return withWriter(value, copyOut);
}

// The encoding as a latin1 string (one char per byte): a Map key for in-process caches, without
// the Buffer that encodeKey allocates.
function encodeKeyString(value) {
  return withWriter(value, latin1Out);
}

// ---- XXH3-128 ----------------------------------------------------------------------------------
// XXH3-128 with seed 0 and the default 192-byte secret, written from the algorithm's description
// (input length classes 0, 1-3, 4-8, 9-16, 17-128, 129-240, and the striped long loop) with
// BigInt arithmetic modulo 2^64. tests/vectors/keys.json holds reference outputs for every class.

const M64 = (1n << 64n) - 1n;
const M32 = 0xffffffffn;
const P32_1 = 0x9e3779b1n;
const P32_2 = 0x85ebca77n;
const P32_3 = 0xc2b2ae3dn;
const P64_1 = 0x9e3779b185ebca87n;
const P64_2 = 0xc2b2ae3d27d4eb4fn;
const P64_3 = 0x165667b19e3779f9n;
const P64_4 = 0x85ebca77c2b2ae63n;
const P64_5 = 0x27d4eb2f165667c5n;
const PRIME_MX1 = 0x165667919e3779f9n;
const PRIME_MX2 = 0x9fb21c651e98df25n;

// The default secret (XXH3_kSecret), 192 bytes.
const SECRET = Buffer.from(
  'b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f' +
    'cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c' +
    '3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8' +
    'a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364' +
    'eac5ac8334d3ebc3c581a0fffa1363eb170ddd51b7f0da49d316552629d4689e' +
    '2b16be587d47a1fc8ff8b8d17ad031ce45cb3a8f95160428afd7fbcabb4b407e',
  'hex',
);
const SECRET_SIZE = 192;
const STRIPE_LEN = 64;
const STRIPES_PER_BLOCK = (SECRET_SIZE - STRIPE_LEN) / 8; // 16
const BLOCK_LEN = STRIPE_LEN * STRIPES_PER_BLOCK; // 1024
const MIDSIZE_START = 3;
const MIDSIZE_LAST = 17;
const LASTACC_START = 7;
const MERGEACCS_START = 11;

const r64 = (b, i) => b.readBigUInt64LE(i);
const r32 = (b, i) => BigInt(b.readUInt32LE(i));
const mul64 = (a, b) => (a * b) & M64;
const add64 = (a, b) => (a + b) & M64;

function mulFold64(a, b) {
  const p = a * b;
  return (p & M64) ^ (p >> 64n);
}

function xxh64Avalanche(h) {
  h ^= h >> 33n;
  h = mul64(h, P64_2);
  h ^= h >> 29n;
  h = mul64(h, P64_3);
  return h ^ (h >> 32n);
}

function xxh3Avalanche(h) {
  h ^= h >> 37n;
  h = mul64(h, PRIME_MX1);
  return h ^ (h >> 32n);
}

function bswap64(x) {
  let r = 0n;
  for (let i = 0; i < 8; i++) {
    r = (r << 8n) | (x & 0xffn);
    x >>= 8n;
  }
  return r;
}

function len0() {
  return [
    xxh64Avalanche(r64(SECRET, 80) ^ r64(SECRET, 88)),
    xxh64Avalanche(r64(SECRET, 64) ^ r64(SECRET, 72)),
  ];
}

function len1to3(b) {
  const n = b.length;
  const combinedl = ((b[0] << 16) | (b[n >> 1] << 24) | b[n - 1] | (n << 8)) >>> 0;
  const swapped =
    ((combinedl & 0xff) << 24) |
    ((combinedl & 0xff00) << 8) |
    ((combinedl >>> 8) & 0xff00) |
    (combinedl >>> 24);
  const combinedh = ((swapped << 13) | (swapped >>> 19)) >>> 0;
  const bitflipl = r32(SECRET, 0) ^ r32(SECRET, 4);
  const bitfliph = r32(SECRET, 8) ^ r32(SECRET, 12);
  return [
    xxh64Avalanche(BigInt(combinedh) ^ bitfliph),
    xxh64Avalanche(BigInt(combinedl) ^ bitflipl),
  ];
}

function len4to8(b) {
  const n = b.length;
  const input64 = r32(b, 0) + (r32(b, n - 4) << 32n);
  const keyed = input64 ^ (r64(SECRET, 16) ^ r64(SECRET, 24));
  const p = keyed * ((P64_1 + BigInt(n << 2)) & M64);
  let lo = p & M64;
  let hi = p >> 64n;
  hi = add64(hi, lo << 1n);
  lo ^= hi >> 3n;
  lo ^= lo >> 35n;
  lo = mul64(lo, PRIME_MX2);
  lo ^= lo >> 28n;
  return [xxh3Avalanche(hi), lo];
}

function len9to16(b) {
  const n = b.length;
  const bitflipl = r64(SECRET, 32) ^ r64(SECRET, 40);
  const bitfliph = r64(SECRET, 48) ^ r64(SECRET, 56);
  const inLo = r64(b, 0);
  let inHi = r64(b, n - 8);
  const p = (inLo ^ inHi ^ bitflipl) * P64_1;
  let mLo = add64(p & M64, BigInt(n - 1) << 54n);
  let mHi = p >> 64n;
  inHi ^= bitfliph;
  mHi = (mHi + inHi + (inHi & M32) * (P32_2 - 1n)) & M64;
  mLo ^= bswap64(mHi);
  const h = mLo * P64_2;
  const hLo = h & M64;
  const hHi = add64(h >> 64n, mul64(mHi, P64_2));
  return [xxh3Avalanche(hHi), xxh3Avalanche(hLo)];
}

function mix16(b, at, secretAt) {
  return mulFold64(r64(b, at) ^ r64(SECRET, secretAt), r64(b, at + 8) ^ r64(SECRET, secretAt + 8));
}

// acc = [low, high]
function mix32(acc, b, at1, at2, secretAt) {
  acc[0] = add64(acc[0], mix16(b, at1, secretAt));
  acc[0] ^= add64(r64(b, at2), r64(b, at2 + 8));
  acc[1] = add64(acc[1], mix16(b, at2, secretAt + 16));
  acc[1] ^= add64(r64(b, at1), r64(b, at1 + 8));
}

function finish(acc, n) {
  const lo = add64(acc[0], acc[1]);
  const hi = add64(add64(mul64(acc[0], P64_1), mul64(acc[1], P64_4)), mul64(BigInt(n), P64_2));
  return [(0n - xxh3Avalanche(hi)) & M64, xxh3Avalanche(lo)];
}

function len17to128(b) {
  const n = b.length;
  const acc = [mul64(BigInt(n), P64_1), 0n];
  if (n > 32) {
    if (n > 64) {
      if (n > 96) mix32(acc, b, 48, n - 64, 96);
      mix32(acc, b, 32, n - 48, 64);
    }
    mix32(acc, b, 16, n - 32, 32);
  }
  mix32(acc, b, 0, n - 16, 0);
  return finish(acc, n);
}

function len129to240(b) {
  const n = b.length;
  const rounds = Math.floor(n / 32);
  const acc = [mul64(BigInt(n), P64_1), 0n];
  for (let i = 0; i < 4; i++) mix32(acc, b, 32 * i, 32 * i + 16, 32 * i);
  acc[0] = xxh3Avalanche(acc[0]);
  acc[1] = xxh3Avalanche(acc[1]);
  for (let i = 4; i < rounds; i++) {
    mix32(acc, b, 32 * i, 32 * i + 16, MIDSIZE_START + 32 * (i - 4));
  }
  mix32(acc, b, n - 16, n - 32, 136 - MIDSIZE_LAST - 16);
  return finish(acc, n);
}

// The long loop is the one place where input size matters, so its accumulators are 32-bit halves
// in Uint32Arrays (stores wrap modulo 2^32) and the 32x32->64 products are done in 16-bit pieces,
// all in exact double arithmetic: no BigInt per byte. Scrambles (one per 1 KiB block) and the
// final merge convert to BigInt.
const SECRET_U32 = new Uint32Array(SECRET_SIZE - 3); // SECRET.readUInt32LE(k) for every k
for (let k = 0; k < SECRET_U32.length; k++) SECRET_U32[k] = SECRET.readUInt32LE(k);
const TWO32 = 4294967296;

function u32At(b, at) {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function accumulate512(accLo, accHi, b, at, secretAt) {
  for (let i = 0; i < 8; i++) {
    const dLo = u32At(b, at + 8 * i);
    const dHi = u32At(b, at + 8 * i + 4);
    const kLo = (dLo ^ SECRET_U32[secretAt + 8 * i]) >>> 0;
    const kHi = (dHi ^ SECRET_U32[secretAt + 8 * i + 4]) >>> 0;
    // acc[i ^ 1] += data
    const j = i ^ 1;
    const sum = accLo[j] + dLo;
    accLo[j] = sum;
    accHi[j] = accHi[j] + dHi + (sum >= TWO32 ? 1 : 0);
    // acc[i] += kLo * kHi (64-bit product)
    const a0 = kLo & 0xffff;
    const a1 = kLo >>> 16;
    const b0 = kHi & 0xffff;
    const b1 = kHi >>> 16;
    const mid = a0 * b1 + a1 * b0; // < 2^33
    const midLo = mid % 65536;
    const lo = a0 * b0 + midLo * 65536; // < 2^33
    const loWrapped = lo % TWO32;
    const hi = a1 * b1 + (mid - midLo) / 65536 + (lo - loWrapped) / TWO32;
    const sum2 = accLo[i] + loWrapped;
    accLo[i] = sum2;
    accHi[i] = accHi[i] + hi + (sum2 >= TWO32 ? 1 : 0);
  }
}

function scramble(accLo, accHi, secretAt) {
  for (let i = 0; i < 8; i++) {
    let a = (BigInt(accHi[i]) << 32n) | BigInt(accLo[i]);
    a ^= a >> 47n;
    a ^= r64(SECRET, secretAt + 8 * i);
    a = mul64(a, P32_1);
    accLo[i] = Number(a & M32);
    accHi[i] = Number(a >> 32n);
  }
}

function mergeAccs(acc, secretAt, start) {
  let r = start;
  for (let i = 0; i < 4; i++) {
    r = add64(
      r,
      mulFold64(
        acc[2 * i] ^ r64(SECRET, secretAt + 16 * i),
        acc[2 * i + 1] ^ r64(SECRET, secretAt + 16 * i + 8),
      ),
    );
  }
  return xxh3Avalanche(r);
}

function lenLong(b) {
  const n = b.length;
  const init = [P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1];
  const accLo = new Uint32Array(8);
  const accHi = new Uint32Array(8);
  for (let i = 0; i < 8; i++) {
    accLo[i] = Number(init[i] & M32);
    accHi[i] = Number(init[i] >> 32n);
  }
  const blocks = Math.floor((n - 1) / BLOCK_LEN);
  for (let blk = 0; blk < blocks; blk++) {
    for (let s = 0; s < STRIPES_PER_BLOCK; s++) {
      accumulate512(accLo, accHi, b, blk * BLOCK_LEN + s * STRIPE_LEN, s * 8);
    }
    scramble(accLo, accHi, SECRET_SIZE - STRIPE_LEN);
  }
  const stripes = Math.floor((n - 1 - BLOCK_LEN * blocks) / STRIPE_LEN);
  for (let s = 0; s < stripes; s++) {
    accumulate512(accLo, accHi, b, blocks * BLOCK_LEN + s * STRIPE_LEN, s * 8);
  }
  accumulate512(accLo, accHi, b, n - STRIPE_LEN, SECRET_SIZE - STRIPE_LEN - LASTACC_START);
  const acc = [];
  for (let i = 0; i < 8; i++) acc.push((BigInt(accHi[i]) << 32n) | BigInt(accLo[i]));
  const lo = mergeAccs(acc, MERGEACCS_START, mul64(BigInt(n), P64_1));
  const hi = mergeAccs(
    acc,
    SECRET_SIZE - STRIPE_LEN - MERGEACCS_START,
    ~mul64(BigInt(n), P64_2) & M64,
  );
  return [hi, lo];
}

// [high, low] of XXH3-128 (seed 0) over a Uint8Array.
function xxh3128(bytes) {
  const b = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = b.length;
  if (n === 0) return len0();
  if (n <= 3) return len1to3(b);
  if (n <= 8) return len4to8(b);
  if (n <= 16) return len9to16(b);
  if (n <= 128) return len17to128(b);
  if (n <= 240) return len129to240(b);
  return lenLong(b);
}

function xxh3128Hex(bytes) {
  const [hi, lo] = xxh3128(bytes);
  return hi.toString(16).padStart(16, '0') + lo.toString(16).padStart(16, '0');
}

function hash128Hex(value) {
  return xxh3128Hex(encodeKey(value));
}

module.exports = {
  encodeKey,
  encodeKeyString,
  hash128Hex,
  xxh3128Hex,
  KeyBuffer,
  VERSION,
  MAX_DEPTH,
};
