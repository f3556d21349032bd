'use strict';
// tcarray.js: the array codec tcarray/1 (disk codec tag 4), shared with Python's numpy arrays
// (python/twincache/_disk_values.py, docs/persistence.md "Typed values"). A value is
//   "TCA1" | header length n (u32 LE) | n bytes of JSON {"dtype","shape","order"}, space-padded
//   so that the elements start at a multiple of 64 | the elements (little-endian)
// Node reads it as the matching TypedArray with `shape`, `dtype` and `order` properties, and
// writes a TypedArray (with an optional `shape`) the same way under codec 'json'.

const { makeError } = require('./errors');

const MAGIC = Buffer.from('TCA1', 'latin1');
const ALIGN = 64;
// numpy dtype string -> TypedArray constructor (little-endian and single-byte types only).
const TYPES = {
  '|i1': Int8Array,
  '|u1': Uint8Array,
  '|b1': Uint8Array,
  '<i2': Int16Array,
  '<u2': Uint16Array,
  '<i4': Int32Array,
  '<u4': Uint32Array,
  '<i8': BigInt64Array,
  '<u8': BigUint64Array,
  '<f4': Float32Array,
  '<f8': Float64Array,
};
const DTYPE_OF = new Map([
  [Int8Array, '|i1'],
  [Uint8Array, '|u1'],
  [Uint8ClampedArray, '|u1'],
  [Int16Array, '<i2'],
  [Uint16Array, '<u2'],
  [Int32Array, '<i4'],
  [Uint32Array, '<u4'],
  [BigInt64Array, '<i8'],
  [BigUint64Array, '<u8'],
  [Float32Array, '<f4'],
  [Float64Array, '<f8'],
]);

function isTypedArray(value) {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) && !Buffer.isBuffer(value);
}

function encodeArray(value) {
  const dtype = DTYPE_OF.get(value.constructor);
  if (dtype === undefined) {
    throw makeError('invalid_argument', `the array codec cannot store a ${value.constructor.name}`);
  }
  const shape = Array.isArray(value.shape) ? value.shape : [value.length];
  const count = shape.reduce((a, b) => a * b, 1);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0) || count !== value.length) {
    throw makeError(
      'out_of_range',
      `shape must be non-negative integers whose product is the array's length ${value.length}`,
    );
  }
  const order = value.order === 'F' ? 'F' : 'C';
  const json = Buffer.from(JSON.stringify({ dtype, shape, order }), 'utf8');
  const n = Math.ceil((8 + json.length) / ALIGN) * ALIGN - 8;
  const head = Buffer.alloc(8 + n, 0x20);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(n, 4);
  json.copy(head, 8);
  return Buffer.concat([head, Buffer.from(value.buffer, value.byteOffset, value.byteLength)]);
}

function decodeArray(data) {
  if (data.length < 8 || !data.subarray(0, 4).equals(MAGIC)) {
    throw makeError('invalid_argument', 'this entry is not a tcarray/1 value (bad magic)');
  }
  const n = data.readUInt32LE(4);
  let header;
  try {
    header = JSON.parse(data.subarray(8, 8 + n).toString('utf8'));
  } catch (err) {
    throw makeError('invalid_argument', `this tcarray/1 value has a bad header (${err.message})`);
  }
  const Type = TYPES[header.dtype];
  if (Type === undefined) {
    throw makeError(
      'invalid_argument',
      `this tcarray/1 value has dtype '${header.dtype}', which has no TypedArray in Node`,
    );
  }
  const shape = header.shape;
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = data.length - 8 - n;
  if (bytes !== count * Type.BYTES_PER_ELEMENT) {
    throw makeError('invalid_argument', "this tcarray/1 value's size does not match its header");
  }
  // Copied into fresh, aligned memory: the caller's own array, as from v8.deserialize.
  const out = new Type(count);
  Buffer.from(out.buffer).set(data.subarray(8 + n));
  Object.defineProperty(out, 'shape', { value: shape, enumerable: false });
  Object.defineProperty(out, 'dtype', { value: header.dtype, enumerable: false });
  Object.defineProperty(out, 'order', { value: header.order, enumerable: false });
  return out;
}

module.exports = { encodeArray, decodeArray, isTypedArray, CODEC_ARRAY: 4, CODEC_ARROW: 5 };
