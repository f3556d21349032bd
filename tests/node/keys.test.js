'use strict';
// Tests for the pure-JS key encoder (node/lib/keys.js): every shared vector in
// tests/vectors/keys.json (the C++ and Python tests read the same file), the XXH3-128 reference
// outputs, and the JS-only rules (numbers meet BigInts, undefined, plain objects vs Maps, the byte
// containers, typed arrays, errors with codes).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const {
  encodeKey,
  encodeKeyString,
  hash128Hex,
  xxh3128Hex,
  KeyBuffer,
  VERSION,
} = require('../../node/lib/keys');

const VECTORS = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'vectors', 'keys.json'), 'utf8'),
);

const TYPED_ARRAYS = {
  '|i1': Int8Array,
  '|u1': Uint8ClampedArray,
  '<i2': Int16Array,
  '<u2': Uint16Array,
  '<i4': Int32Array,
  '<u4': Uint32Array,
  '<f4': Float32Array,
  '<f8': Float64Array,
  '<i8': BigInt64Array,
  '<u8': BigUint64Array,
};

function parseFloatInput(x) {
  if (x === 'NaN') return NaN;
  if (x === 'Infinity') return Infinity;
  if (x === '-Infinity') return -Infinity;
  return Number(x);
}

// Typed JSON input (docs/keys.md, "Vectors") -> the JS value it stands for. `variant` picks
// between JS spellings of one value: 0 is the first choice (BigInt ints, Maps, KeyBuffers), 1 the
// other (Numbers for safe ints, plain objects for string-keyed maps, TypedArrays for 1-D buffers).
function fromInput(x, variant = 0) {
  if (x === null || typeof x === 'boolean' || typeof x === 'string') return x;
  if (typeof x === 'number') return x;
  const [[kind, v]] = Object.entries(x);
  switch (kind) {
    case 'int': {
      const b = BigInt(v);
      return variant === 1 && Number.isSafeInteger(Number(b)) ? Number(b) : b;
    }
    case 'float':
      return parseFloatInput(v);
    case 'str':
      return v;
    case 'bytes':
      return Buffer.from(v, 'hex');
    case 'list':
    case 'tuple':
      return v.map((e) => fromInput(e, variant));
    case 'map': {
      const plain = variant === 1 && v.every(([k]) => typeof k === 'string' || 'str' in Object(k));
      if (plain) {
        const o = {};
        for (const [k, e] of v) o[fromInput(k)] = fromInput(e, variant);
        return o;
      }
      return new Map(v.map(([k, e]) => [fromInput(k, variant), fromInput(e, variant)]));
    }
    case 'set':
      return new Set(v.map((e) => fromInput(e, variant)));
    case 'buffer': {
      const data = Buffer.from(v.hex, 'hex');
      const Ctor = TYPED_ARRAYS[v.dtype];
      if (variant === 1 && v.shape.length === 1 && Ctor !== undefined) {
        const copy = new Uint8Array(data); // aligned
        return new Ctor(copy.buffer, 0, v.shape[0]);
      }
      return new KeyBuffer(v.dtype, v.shape, data);
    }
    default:
      throw new Error(`unknown typed input ${JSON.stringify(x)}`);
  }
}

test('the vectors file has enough vectors', () => {
  assert.equal(VECTORS.version, 1);
  assert.ok(VECTORS.vectors.length >= 40);
});

test('every vector encodes and hashes as the file says, in both JS spellings', () => {
  for (const v of VECTORS.vectors) {
    for (const variant of [0, 1]) {
      const enc = encodeKey(fromInput(v.input, variant));
      assert.equal(enc.toString('hex'), v.encoding, `${v.name} (variant ${variant})`);
      assert.equal(enc[0], VERSION);
    }
    assert.equal(hash128Hex(fromInput(v.input)), v.hash, v.name);
  }
});

test('equal groups give one key', () => {
  assert.ok(VECTORS.equal.length >= 5);
  for (const group of VECTORS.equal) {
    const encs = new Set();
    for (const x of group) {
      encs.add(encodeKey(fromInput(x, 0)).toString('hex'));
      encs.add(encodeKey(fromInput(x, 1)).toString('hex'));
    }
    assert.equal(encs.size, 1, JSON.stringify(group));
  }
});

test('distinct groups are pairwise different', () => {
  assert.ok(VECTORS.distinct.length >= 5);
  for (const group of VECTORS.distinct) {
    const encs = group.map((x) => encodeKey(fromInput(x)).toString('hex'));
    assert.equal(new Set(encs).size, encs.length, JSON.stringify(group));
  }
});

test('error inputs are refused with their code', () => {
  assert.ok(VECTORS.errors.length >= 1);
  for (const e of VECTORS.errors) {
    assert.throws(
      () => encodeKey(fromInput(e.input)),
      (err) =>
        err instanceof RangeError &&
        err.code === 'ERR_TWINCACHE_' + e.code.toUpperCase() &&
        /nesting depth must be at most 64/.test(err.message),
      e.name,
    );
  }
});

test('XXH3-128 matches the reference for every length class', () => {
  const cases = VECTORS.xxh3_128.cases;
  assert.ok(cases.length >= 20);
  for (const { length: n, fill, hash } of cases) {
    const data = Buffer.alloc(n);
    for (let i = 0; i < n; i++) data[i] = fill === undefined ? (i * 7 + n) % 256 : fill;
    assert.equal(xxh3128Hex(data), hash, `length ${n}`);
    assert.equal(xxh3128Hex(new Uint8Array(data)), hash, `length ${n} as a Uint8Array`);
  }
  assert.equal(xxh3128Hex(Buffer.alloc(0)), '99aa06d3014798d86001c324468d497f');
});

// ---- JS-only rules -----------------------------------------------------------------------------

const hex = (v) => encodeKey(v).toString('hex');

test('numbers and BigInts meet: integral values are integers', () => {
  assert.equal(hex(1), hex(1n));
  assert.equal(hex(-0), hex(0));
  assert.equal(hex(-0), '010300');
  assert.equal(hex(2 ** 64), hex(2n ** 64n));
  assert.equal(hex(-(2 ** 80)), hex(-(2n ** 80n)));
  assert.equal(hex(Number.MAX_SAFE_INTEGER), hex(BigInt(Number.MAX_SAFE_INTEGER)));
  assert.equal(hex(Number.MAX_VALUE), hex(BigInt(Number.MAX_VALUE)));
  assert.notEqual(hex(1.5), hex(1));
  assert.equal(hex(NaN), hex(-NaN));
  assert.equal(hex(NaN), '0105000000000000f87f');
});

test('undefined has its own tag, apart from null', () => {
  assert.equal(hex(undefined), '010c');
  assert.notEqual(hex(undefined), hex(null));
  assert.notEqual(hex([undefined]), hex([null]));
  assert.notEqual(hex({ a: undefined }), hex({}));
  assert.equal(hex([, 1]), hex([undefined, 1])); // eslint-disable-line no-sparse-arrays
});

test('plain objects are maps: key order does not matter, a Map with the same keys is equal', () => {
  assert.equal(hex({ a: 1, b: 2 }), hex({ b: 2, a: 1 }));
  assert.equal(
    hex({ a: 1, b: 2 }),
    hex(
      new Map([
        ['b', 2],
        ['a', 1],
      ]),
    ),
  );
  const bare = Object.create(null);
  bare.x = [1, 2];
  assert.equal(hex(bare), hex({ x: [1, 2] }));
  assert.notEqual(hex({ 1: 'a' }), hex(new Map([[1, 'a']]))); // object keys are strings
});

test('the byte containers are bytes; other TypedArrays are 1-D typed buffers', () => {
  const b = Buffer.from([0, 1, 254, 255]);
  const want = hex(b);
  assert.equal(want, '01070400' + '01feff');
  assert.equal(hex(new Uint8Array(b)), want);
  assert.equal(hex(new Uint8Array(b).buffer), want);
  assert.equal(hex(new DataView(new Uint8Array(b).buffer)), want);
  const big = Buffer.alloc(20, 7);
  assert.equal(hex(big.subarray(5, 9)), hex(Buffer.alloc(4, 7)), 'views use their own range');
  assert.notEqual(hex(new Uint8ClampedArray(b)), want);
  assert.equal(
    hex(new Float64Array([1, 2.5])),
    '010b033c6638010210000000000000f03f0000000000000440',
  );
  const f = new Float64Array([9, 1, 2.5, 9]);
  assert.equal(hex(f.subarray(1, 3)), hex(new Float64Array([1, 2.5])));
  assert.equal(hex(new Float64Array([1, 2.5])), hex(new KeyBuffer('<f8', [2], f.subarray(1, 3))));
  assert.notEqual(hex(new Float32Array([1])), hex(new Float64Array([1])));
  assert.notEqual(hex(new Int32Array([1])), hex(new Uint32Array([1])));
});

test('KeyBuffer checks dtype and size as the core does', () => {
  assert.throws(
    () => new KeyBuffer('>f8', [1], Buffer.alloc(8)),
    (e) =>
      e instanceof TypeError &&
      e.code === 'ERR_TWINCACHE_INVALID_ARGUMENT' &&
      e.message.startsWith('key buffer dtype must be a normalized numpy dtype string'),
  );
  for (const bad of ['', 'f8', '=f8', '<f3', '|f8', '<u1', '<S3', '<i8[ns]', '<b2', '<f08']) {
    assert.throws(() => new KeyBuffer(bad, [1], Buffer.alloc(8)), TypeError, bad);
  }
  assert.throws(
    () => new KeyBuffer('<f8', [2], Buffer.alloc(8)),
    (e) =>
      e instanceof RangeError &&
      e.code === 'ERR_TWINCACHE_OUT_OF_RANGE' &&
      e.message ===
        "key buffer data must be product(shape) * itemsize bytes for dtype '<f8' and shape " +
          '(2,) (got 8 bytes)',
  );
  assert.throws(() => new KeyBuffer('|u1', [-1], Buffer.alloc(0)), RangeError);
  assert.doesNotThrow(() => new KeyBuffer('<M8[ns]', [], Buffer.alloc(8)));
  assert.doesNotThrow(() => new KeyBuffer('<f8', [2 ** 40, 0], Buffer.alloc(0)));
});

test('values that cannot be keyed are TypeErrors with a code', () => {
  class Point {}
  const cases = [
    [() => 1, /a function/],
    [Symbol('s'), /a symbol/],
    [new Point(), /an instance of Point/],
    [new Date(0), /an instance of Date/],
    [[1, { a: [new WeakMap()] }], /an instance of WeakMap/],
    [{ [Symbol('k')]: 1 }, /symbol keys/],
    [Promise.resolve(1), /an instance of Promise/],
  ];
  for (const [value, message] of cases) {
    assert.throws(
      () => encodeKey(value),
      (e) =>
        e instanceof TypeError &&
        e.code === 'ERR_TWINCACHE_INVALID_ARGUMENT' &&
        e.message.startsWith('cannot build a key from ') &&
        message.test(e.message),
    );
  }
});

test('lone surrogates are RangeErrors; paired ones are one code point', () => {
  for (const s of ['ab\ud800', '\udc00', 'x'.repeat(100) + '\ud83d']) {
    assert.throws(
      () => encodeKey(['ok', s]),
      (e) =>
        e instanceof RangeError &&
        e.code === 'ERR_TWINCACHE_OUT_OF_RANGE' &&
        /key string must be valid Unicode \(lone surrogate U\+D[89A-F][0-9A-F]{2} at index/.test(
          e.message,
        ),
    );
  }
  assert.equal(hex('\ud83d\ude00'), '010604f09f9880');
});

test('cycles stop at the depth cap', () => {
  const a = [];
  a.push(a);
  assert.throws(() => encodeKey(a), { name: 'RangeError', code: 'ERR_TWINCACHE_OUT_OF_RANGE' });
  const o = {};
  o.self = o;
  assert.throws(() => encodeKey(o), RangeError);
  const m = new Map();
  m.set('m', m);
  assert.throws(() => encodeKey(m), RangeError);
  // The shared writer is usable after an error.
  assert.equal(hex([1, 'a']), '01080203010106016' + '1');
});

test('the writer grows for large keys and is safe to re-enter from a getter', () => {
  const long = 'é'.repeat(100000);
  const enc = encodeKey([long, Buffer.alloc(300000, 1)]);
  assert.equal(enc.length, 1 + 2 + (1 + 3 + 200000) + (1 + 3 + 300000));
  const tricky = {
    get a() {
      return hex({ inner: [1, 2, 3] });
    },
  };
  assert.equal(hex(tricky), hex({ a: hex({ inner: [1, 2, 3] }) }));
  // Each result is a fresh Buffer, not a view of the shared writer.
  const first = encodeKey('first');
  encodeKey('second!');
  assert.equal(first.toString('hex'), '010605' + Buffer.from('first').toString('hex'));
});

test('sets collapse elements whose encodings are equal', () => {
  assert.equal(hex(new Set([1, 1n, 1.0])), hex(new Set([1])));
  assert.equal(hex(new Set([3, 1, 2])), hex(new Set([2, 3, 1])));
  assert.equal(hex(new Set([NaN, NaN])), hex(new Set([NaN])));
});

test('encodeKeyString is the encoding as latin1', () => {
  for (const v of [
    1,
    'é',
    [1, { a: new Set([2, 1]) }],
    Buffer.from([0, 255]),
    new Float32Array(3),
  ]) {
    assert.equal(encodeKeyString(v), encodeKey(v).toString('latin1'));
  }
});

test('maps and sets with many entries sort like small ones', () => {
  const entries = [];
  for (let i = 0; i < 300; i++) entries.push([`k${(i * 7919) % 300}`, 'v'.repeat(i % 50)]);
  const forward = new Map(entries);
  const backward = new Map(entries.slice().reverse());
  assert.equal(hex(forward), hex(backward));
  assert.equal(hex(Object.fromEntries(entries)), hex(forward));
  const enc = encodeKey(forward);
  assert.equal(enc.subarray(0, 4).toString('hex'), '0109ac02'); // 300 pairs
});
