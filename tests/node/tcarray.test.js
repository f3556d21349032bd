'use strict';
// The array codec tcarray/1 (disk codec tag 4), shared with Python's numpy arrays: the test
// vectors of tests/vectors/tcarray.json encode and decode byte for byte, a TypedArray stored
// under codec 'json' comes back with its shape, and (native mode, with the project's Python)
// arrays cross between Python and Node through one directory. Runs native and TWINCACHE_PURE=1.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { DiskCache } = require('twincache');
const { _testing } = require('../../node/lib/disk.js');
const { encodeArray, decodeArray } = require('../../node/lib/tcarray.js');

const vectors = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'vectors', 'tcarray.json'), 'utf8'),
).vectors;
const TYPES = {
  '<f8': Float64Array,
  '<f4': Float32Array,
  '<i4': Int32Array,
  '<i8': BigInt64Array,
  '|u1': Uint8Array,
  '<i2': Int16Array,
};
const persistent = _testing.diskAddon().addon !== null;
const python = path.join(__dirname, '..', '..', '.venv', 'bin', 'python');

function tmpDir() {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-tcarray-')), 'cache');
}

function arrayOf(v) {
  const Type = TYPES[v.dtype];
  const values = Type === BigInt64Array ? v.values.map((x) => BigInt(x)) : v.values;
  const a = Type.from(values);
  a.shape = v.shape;
  return a;
}

test('the shared vectors encode and decode byte for byte', () => {
  assert.ok(vectors.length >= 6);
  for (const v of vectors) {
    assert.equal(encodeArray(arrayOf(v)).toString('hex'), v.hex, v.name);
    const back = decodeArray(Buffer.from(v.hex, 'hex'));
    assert.ok(back instanceof TYPES[v.dtype], v.name);
    assert.deepEqual(back.shape, v.shape, v.name);
    assert.equal(back.dtype, v.dtype);
    assert.deepEqual([...back], [...arrayOf(v)], v.name);
  }
});

test('bad input names what is wrong', () => {
  const a = new Float64Array(6);
  a.shape = [4, 2];
  assert.throws(() => encodeArray(a), {
    name: 'RangeError',
    message: /product is the array's length 6/,
  });
  assert.throws(() => decodeArray(Buffer.from('nope')), {
    name: 'TypeError',
    message: /bad magic/,
  });
  const v = vectors[0];
  const cut = Buffer.from(v.hex, 'hex').subarray(0, -8);
  assert.throws(() => decodeArray(cut), { message: /size does not match its header/ });
});

test('a TypedArray under codec json is stored as tcarray/1 and read back with its shape', () => {
  const c = new DiskCache({ path: tmpDir(), codec: 'json' });
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  a.shape = [2, 3];
  c.set('a', a);
  c.flush();
  const r = persistent ? new DiskCache({ path: c.path, codec: 'json' }) : c;
  const back = r.get('a');
  assert.ok(back instanceof Float32Array);
  assert.deepEqual(back.shape, [2, 3]);
  assert.deepEqual([...back], [1, 2, 3, 4, 5, 6]);
});

test('arrays cross between Python (numpy) and Node', (t) => {
  if (!persistent) return t.skip('pure mode: Node 20 has no SQLite, DiskCache is memory-only');
  const probe = spawnSync(python, ['-c', 'import numpy, twincache'], { encoding: 'utf8' });
  if (probe.status !== 0) return t.skip(`no Python with numpy and twincache at ${python}`);
  const dir = tmpDir();
  const write = spawnSync(
    python,
    [
      '-c',
      'import sys, numpy as np, twincache\n' +
        'c = twincache.DiskCache(sys.argv[1], codec="json")\n' +
        'c["py"] = np.arange(200000, dtype=np.int32).reshape(1000, 200)\n' +
        'c["small"] = np.array([[1.5, 2.5]])\n' +
        'c.flush()\n',
      dir,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(write.status, 0, write.stderr);
  const c = new DiskCache({ path: dir, codec: 'json' });
  const big = c.get('py');
  assert.ok(big instanceof Int32Array);
  assert.deepEqual(big.shape, [1000, 200]);
  assert.equal(big[199999], 199999);
  assert.deepEqual([...c.get('small')], [1.5, 2.5]);
  const mine = new BigInt64Array([1n, -2n, 3n, 4n]);
  mine.shape = [2, 2];
  c.set('node', mine);
  c.flush();
  const read = spawnSync(
    python,
    [
      '-c',
      'import sys, twincache\n' +
        'a = twincache.DiskCache(sys.argv[1])["node"]\n' +
        'print(a.dtype, a.shape, a.tolist())\n',
      dir,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(read.status, 0, read.stderr);
  assert.equal(read.stdout.trim(), 'int64 (2, 2) [[1, -2], [3, 4]]');
});
