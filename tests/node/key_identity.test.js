'use strict';
// Key identity: memoize's fast paths (one primitive argument, the trie of 2+ primitive arguments,
// flat objects, Maps and arrays) give the same identity as the shared encoder: two argument lists
// share an entry iff encodeKey gives them the same bytes, and a list encodeKey refuses is refused
// with the same error. Also: no native path lets two different strings meet as one key.
const test = require('node:test');
const assert = require('node:assert/strict');
const { memoize, ByteCache } = require('twincache');
const { encodeKey } = require('../../node/lib/keys');

const symbolHidden = Object.defineProperty({ a: 1 }, Symbol('hidden'), { value: 2 });
const arrayWithSymbol = Object.assign([1], { [Symbol('extra')]: 2 }); // arrays key by elements
const nullProto = Object.assign(Object.create(null), { a: 2 ** 60 });

// Argument lists whose identities are easy to get wrong. A symbol as an argument itself keys by
// identity (memoize.test.js), so none is here: every list is one encodeKey judges.
const TABLE = [
  // BigInts and numbers: integral float64 values are integers in the encoding.
  [2n ** 60n],
  [2 ** 60],
  [2n ** 60n + 1n],
  [-(2n ** 60n)],
  [-(2 ** 60)],
  [2n ** 53n],
  [2 ** 53],
  [2n ** 53n + 1n],
  [2 ** 53 + 2],
  [2n ** 53n + 2n],
  [1e300],
  [BigInt(1e300)],
  [10n ** 300n],
  [Number.MAX_VALUE],
  [BigInt(Number.MAX_VALUE)],
  [2n ** 1024n],
  [0],
  [-0],
  [0n],
  [1],
  [1n],
  [NaN],
  [Infinity],
  [2n ** 60n, 'a'],
  [2 ** 60, 'a'],
  ['a', 2n ** 60n, true],
  ['a', 2 ** 60, true],
  [-(2n ** 60n), 2n ** 64n],
  [-(2 ** 60), 2 ** 64],
  [1, 2, 3, 2n ** 60n],
  [1, 2, 3, 2 ** 60],
  [{ a: 2n ** 60n }],
  [{ a: 2 ** 60 }],
  [nullProto],
  [new Map([['a', 2n ** 60n]])],
  [new Map([['a', 2 ** 60]])],
  [[2n ** 60n, 1]],
  [[2 ** 60, 1]],
  [[2n ** 60n], 1],
  // Strings: lone surrogates are refused; U+FFFD (what a lossy conversion would make) is not.
  ['\uD800'],
  ['\uDC00'],
  ['a\uD800'],
  ['\uFFFD'],
  ['a\uFFFD'],
  ['\uD83D\uDE00'],
  ['\u0001\uD800'],
  ['\uD800', 1],
  ['\uFFFD', 1],
  [1, '\uDBFF', 2],
  [1, '\uFFFD', 2],
  ['x', 'y', 'z', '\uD800'],
  ['x', 'y', 'z', '\uFFFD'],
  [{ a: '\uD800' }],
  [{ a: '\uFFFD' }],
  [{ '\uD800': 1 }],
  [{ '\uFFFD': 1 }],
  [['\uD800']],
  [['\uFFFD']],
  [new Map([['\uDC00', 1]])],
  [new Map([['\uFFFD', 1]])],
  // Symbol-named properties: refused on plain objects (enumerable or not), ignored on arrays.
  [{ a: 1, [Symbol('s')]: 2 }],
  [symbolHidden],
  [{ [Symbol.iterator]: 1 }],
  [{ a: 1 }],
  [{}],
  [arrayWithSymbol],
  [[1]],
  // Neighbours that must stay apart or together.
  [],
  [undefined],
  [null],
  [undefined, undefined],
  [null, null],
  ['', ''],
  [true, 1],
  [1, true],
  [{ a: undefined }],
  [new Map()],
  [[]],
];

function expected(args) {
  try {
    return { key: encodeKey(args).toString('hex') };
  } catch (err) {
    return { error: err };
  }
}

// Calls a fresh memoizer with the lists in `order`, twice over (the second pass meets stored
// keys, so it runs the hit paths), and checks every outcome against encodeKey.
function checkIdentity(order, label) {
  let calls = 0;
  const m = memoize(() => ++calls);
  const tokenOf = new Map(); // encoding -> the result its first call returned
  for (const pass of [1, 2]) {
    for (const i of order) {
      const args = TABLE[i];
      const want = expected(args);
      const what = `${label}, pass ${pass}, list #${i}`;
      if (want.error !== undefined) {
        const before = calls;
        assert.throws(
          () => m(...args),
          (err) => {
            assert.equal(err.name, want.error.name, what);
            assert.equal(err.code, want.error.code, what);
            assert.equal(err.message, want.error.message, what);
            return true;
          },
          what,
        );
        assert.equal(calls, before, `${what}: fn does not run for a refused list`);
        continue;
      }
      const got = m(...args);
      const token = tokenOf.get(want.key);
      if (token === undefined) {
        assert.equal(got, calls, `${what}: a new encoding is a miss`);
        tokenOf.set(want.key, got);
      } else {
        assert.equal(got, token, `${what}: an encoding seen before is the same entry`);
      }
    }
  }
  assert.equal(calls, tokenOf.size, `${label}: one call per distinct encoding`);
  assert.equal(m.stats().items, tokenOf.size, label);
}

test('the table holds both outcomes the rule speaks of', () => {
  const outcomes = TABLE.map(expected);
  const keys = outcomes.filter((o) => o.key !== undefined).map((o) => o.key);
  assert.ok(new Set(keys).size < keys.length, 'some lists share an encoding');
  assert.ok(
    outcomes.some((o) => o.error !== undefined && o.error.code === 'ERR_TWINCACHE_OUT_OF_RANGE'),
  );
  assert.ok(
    outcomes.some(
      (o) => o.error !== undefined && o.error.code === 'ERR_TWINCACHE_INVALID_ARGUMENT',
    ),
  );
  // The cases reported against the fast path, as the encoder judges them.
  assert.equal(expected([2n ** 60n]).key, expected([2 ** 60]).key);
  assert.equal(expected(['a', 2n ** 60n, true]).key, expected(['a', 2 ** 60, true]).key);
  assert.equal(expected([{ a: 2n ** 60n }]).key, expected([{ a: 2 ** 60 }]).key);
  assert.notEqual(expected([BigInt(1e300)]).key, expected([10n ** 300n]).key);
});

test('memoize shares an entry iff encodeKey gives the same bytes, in table order', () => {
  checkIdentity(
    TABLE.map((_, i) => i),
    'forward',
  );
});

test('... and in reverse order (each fast path meets keys stored by the others)', () => {
  checkIdentity(
    TABLE.map((_, i) => TABLE.length - 1 - i),
    'reverse',
  );
});

test('... and in seeded shuffles', () => {
  let seed = 12345;
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let round = 0; round < 5; round++) {
    const order = TABLE.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    checkIdentity(order, `shuffle ${round}`);
  }
});

test('a refused list is refused by delete() too, and never meets the U+FFFD entry', () => {
  const m = memoize((...args) => args.length);
  m('\uFFFD', 1);
  m({ a: 1 });
  assert.throws(() => m.delete('\uD800', 1), { name: 'RangeError' });
  assert.throws(() => m.delete({ a: 1, [Symbol('s')]: 1 }), { name: 'TypeError' });
  assert.equal(m.delete('\uFFFD', 1), true);
  assert.equal(m.delete({ a: 1 }), true);
});

test('ByteCache: a lone surrogate key is refused, never read as U+FFFD', () => {
  const c = new ByteCache();
  c.set('\uFFFD', 'replacement');
  for (const key of ['\uD800', '\uDFFF', 'a\uD800b']) {
    for (const call of [() => c.get(key), () => c.has(key), () => c.delete(key)]) {
      assert.throws(call, { name: 'RangeError', code: 'ERR_TWINCACHE_OUT_OF_RANGE' });
    }
    assert.throws(() => c.set(key, 'x'), { name: 'RangeError' });
  }
  assert.equal(c.get('\uFFFD'), 'replacement');
  assert.equal(c.size, 1);
});

test('ByteCache: long keys that differ only in their last character stay apart', () => {
  // Around the native key buffer's size (256 bytes) a multi-byte last character must not be cut.
  const c = new ByteCache();
  const keys = [];
  for (let len = 240; len <= 262; len++) {
    const base = 'k'.repeat(len);
    keys.push(base);
    for (const ch of ['\u00e9', '\u00ea', '\u20ac', '\u00a5', '\uD83D\uDE00', '\uD83D\uDE01']) {
      keys.push(base + ch);
    }
  }
  keys.forEach((k, i) => c.set(k, String(i)));
  assert.equal(c.size, keys.length);
  keys.forEach((k, i) => assert.equal(c.get(k), String(i), `key of ${k.length} chars`));
  assert.deepEqual(new Set(c.keys()), new Set(keys));
});
