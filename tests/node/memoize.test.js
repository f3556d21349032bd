'use strict';
// memoize: keys, cached results (null/undefined included), the helpers, options.
const test = require('node:test');
const assert = require('node:assert/strict');
const { memoize } = require('twincache');

function counted(fn) {
  const f = (...args) => {
    f.calls++;
    return fn(...args);
  };
  f.calls = 0;
  return f;
}

test('a repeated call returns the cached result without calling fn', () => {
  const fn = counted((x) => x * 2);
  const m = memoize(fn);
  assert.equal(m(21), 42);
  assert.equal(m(21), 42);
  assert.equal(fn.calls, 1);
  assert.equal(m(1), 2);
  assert.equal(fn.calls, 2);
  const s = m.stats();
  assert.equal(s.hits, 1);
  assert.equal(s.misses, 2);
  assert.equal(s.items, 2);
});

test('null and undefined results are cached', () => {
  const fn = counted((x) => (x ? null : undefined));
  const m = memoize(fn);
  assert.equal(m(1), null);
  assert.equal(m(1), null);
  assert.equal(m(0), undefined);
  assert.equal(m(0), undefined);
  assert.equal(fn.calls, 2);
});

test('every argument is part of the key; types are distinguished', () => {
  const fn = counted((...args) => args.length);
  const m = memoize(fn);
  const calls = [
    [],
    [1],
    ['1'],
    [true],
    [null],
    [undefined],
    [1, 2],
    [2, 1],
    ['1', 2],
    [1, '2'],
    [1, 2, undefined],
    ['a', 'b'],
    ['ab', ''],
    ['a:b'],
    ['\u0002n1;'],
    [NaN],
    [Infinity],
    [1e300, 1],
    [Symbol.for('x')],
  ];
  for (const args of calls) m(...args);
  assert.equal(fn.calls, calls.length, 'each call is a distinct key');
  for (const args of calls) m(...args);
  assert.equal(fn.calls, calls.length, 'and each one is a hit the second time');
});

test('numbers key by value: 1, 1n and 1.0 are one key; 0 and -0 too', () => {
  const fn = counted((x) => typeof x);
  const m = memoize(fn);
  m(1);
  m(1.0);
  m(1n);
  m(0);
  m(-0);
  assert.equal(fn.calls, 2);
  const m2 = memoize(counted((a, b) => a));
  m2(1, 2);
  m2(1n, 2);
  assert.equal(m2.stats().hits, 1);
});

test('objects, arrays and Buffers key by content', () => {
  const fn = counted((x) => JSON.stringify(x));
  const m = memoize(fn);
  m({ a: 1, b: [1, 2] });
  m({ b: [1, 2], a: 1 }); // key order does not matter
  assert.equal(fn.calls, 1);
  m({ a: 1, b: [2, 1] });
  assert.equal(fn.calls, 2);
  m([1, 'x']);
  m([1, 'x']);
  assert.equal(fn.calls, 3);
  m(Buffer.from('abc'));
  m(Buffer.from('abc'));
  m(Buffer.from('abd'));
  assert.equal(fn.calls, 5);
  const two = memoize(counted((a, b) => 0));
  two(1, { x: 1 });
  two(1, { x: 1 });
  two(1, { x: 2 });
  assert.equal(two.stats().misses, 2);
  assert.equal(two.stats().hits, 1);
});

test('an array argument and the same values as arguments are different keys', () => {
  const fn = counted(() => 0);
  const m = memoize(fn);
  m([1, 2]);
  m(1, 2);
  m('\u0001');
  assert.equal(fn.calls, 3);
});

test('key option overrides the key; its result must be a string or a number', () => {
  const fn = counted((user) => user.name.toUpperCase());
  const m = memoize(fn, { key: (user) => user.id });
  assert.equal(m({ id: 1, name: 'ada' }), 'ADA');
  assert.equal(m({ id: 1, name: 'other' }), 'ADA');
  assert.equal(fn.calls, 1);
  assert.equal(m.delete({ id: 1 }), true);
  assert.equal(m.delete({ id: 1 }), false);
  const bad = memoize(() => 0, { key: () => ({}) });
  assert.throws(() => bad(1), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
    message: 'key result must be a string or a number (got an object)',
  });
});

test('.delete(...args) and .clear()', () => {
  const fn = counted((a, b) => a + b);
  const m = memoize(fn);
  m(1, 2);
  m(3, 4);
  assert.equal(m.delete(1, 2), true);
  assert.equal(m.delete(1, 2), false);
  m(1, 2);
  assert.equal(fn.calls, 3);
  m.clear();
  assert.equal(m.stats().items, 0);
  m(3, 4);
  assert.equal(fn.calls, 4);
});

test('.cache is the Cache behind the function', () => {
  const m = memoize((x) => x + 1, { max: 10 });
  m(1);
  assert.equal(m.cache.size, 1);
  assert.equal(m.cache.stats().misses, 1);
});

test('max bounds the entries', () => {
  const fn = counted((x) => x);
  const m = memoize(fn, { max: 5 });
  for (let i = 0; i < 20; i++) m(i);
  const s = m.stats();
  assert.equal(s.items, 5);
  assert.equal(s.evictions, 15);
  m(19);
  assert.equal(fn.calls, 20, 'the most recent result stays');
});

test("policy 'lru' keeps recently used results", () => {
  const fn = counted((x) => x);
  const m = memoize(fn, { max: 2, policy: 'lru' });
  m(1);
  m(2);
  m(1);
  m(3); // evicts 2
  m(1);
  assert.equal(fn.calls, 3);
  m(2);
  assert.equal(fn.calls, 4);
});

test('maxBytes bounds the weight of results', () => {
  const m = memoize((n) => 'x'.repeat(n), { maxBytes: 1000 });
  for (let i = 0; i < 20; i++) m(100 + i);
  const s = m.stats();
  assert.ok(s.bytes <= 1000, `bytes ${s.bytes}`);
  assert.ok(s.evictions > 0);
  // A result heavier than the budget is returned, not cached.
  assert.equal(m(5000).length, 5000);
  assert.equal(m.stats().rejected, 1);
});

test('this is passed through', () => {
  const obj = {
    base: 10,
    add: memoize(function (x) {
      return this.base + x;
    }),
  };
  assert.equal(obj.add(1), 11);
});

test('a throwing fn caches nothing', () => {
  let calls = 0;
  const m = memoize(() => {
    calls++;
    throw new Error('no');
  });
  assert.throws(() => m(1), /no/);
  assert.throws(() => m(1), /no/);
  assert.equal(calls, 2);
  assert.equal(m.stats().items, 0);
});

test('calls with several arguments: evicted, deleted and cleared tuples run fn again', () => {
  const fn = counted((a, b, c) => `${a}/${b}/${c}`);
  const m = memoize(fn, { max: 4 });
  for (let i = 0; i < 10; i++) assert.equal(m(i, 'x', i % 2 === 0), `${i}/x/${i % 2 === 0}`);
  assert.equal(m.stats().items, 4);
  assert.equal(fn.calls, 10);
  m(9, 'x', false); // still cached
  assert.equal(fn.calls, 10);
  m(0, 'x', true); // evicted: runs again
  assert.equal(fn.calls, 11);
  assert.equal(m.delete(0, 'x', true), true);
  assert.equal(m.delete(0, 'x', true), false);
  assert.equal(m.delete(123, 'never', null), false);
  m(0, 'x', true);
  assert.equal(fn.calls, 12);
  m.clear();
  m(9, 'x', false);
  m(9, 'x', false);
  assert.equal(fn.calls, 13);
  assert.equal(m.stats().hits, 2);
});

test('a tuple whose result is refused by maxBytes is not kept', () => {
  const fn = counted((a, b) => 'y'.repeat(a));
  const m = memoize(fn, { maxBytes: 200 });
  m(500, 1);
  m(500, 1);
  assert.equal(fn.calls, 2);
  assert.equal(m.stats().rejected, 2);
  m(5, 1);
  m(5, 1);
  assert.equal(fn.calls, 3);
});

test('mixed primitive and object arguments in one position', () => {
  const fn = counted(() => 0);
  const m = memoize(fn);
  m(1, 'a');
  m(1, { a: 1 });
  m(1, { a: 1 });
  m(1, 'a');
  assert.equal(fn.calls, 2);
});

test("containers key by content, with the shared encoding's identity", () => {
  const fn = counted(() => 0);
  const m = memoize(fn);
  m({ a: 1, b: 'x' });
  m({ b: 'x', a: 1 });
  m(
    new Map([
      ['b', 'x'],
      ['a', 1],
    ]),
  ); // a plain object and a Map with the same entries: one key
  m(Object.assign(Object.create(null), { a: 1, b: 'x' }));
  assert.equal(fn.calls, 1);
  m({ a: 1 });
  m({ a: 1, b: 'x', c: null });
  m({ a: 1n, b: 'x' }); // 1n is 1
  assert.equal(fn.calls, 3);
  m([1, 2]);
  m([1, 2]);
  m([1, 2, 3]);
  m([2, 1]);
  m([]);
  m({});
  assert.equal(fn.calls, 8);
  m({ a: [1] }); // nested: through the encoder
  m({ a: [1] });
  m(new Set([1]));
  m(new Set([1]));
  assert.equal(fn.calls, 10);
  assert.equal(m.delete({ b: 'x', a: 1 }), true);
  m({ a: 1, b: 'x' });
  assert.equal(fn.calls, 11);
});

test('container keys leave with their entries', () => {
  const fn = counted((o) => o.id);
  const m = memoize(fn, { max: 3 });
  for (let i = 0; i < 10; i++) m({ id: i });
  assert.equal(m.stats().items, 3);
  m({ id: 9 });
  assert.equal(fn.calls, 10);
  m({ id: 0 });
  assert.equal(fn.calls, 11);
  m.clear();
  m({ id: 0 });
  assert.equal(fn.calls, 12);
});

test('a re-entrant fn (recursion through the memoized function) caches every level', () => {
  const fib = memoize((n, tag) => (n < 2 ? n : fib(n - 1, tag) + fib(n - 2, tag)));
  assert.equal(fib(40, 'x'), 102334155);
  assert.equal(fib.stats().misses, 41);
  const walk = memoize((o) => (o.n === 0 ? 0 : 1 + walk({ n: o.n - 1 })));
  assert.equal(walk({ n: 30 }), 30);
  assert.equal(walk({ n: 30 }), 30);
  assert.equal(walk.stats().misses, 31);
  assert.equal(walk.stats().hits, 1);
});

test('a re-entrant call with another kind of key does not confuse the outer call', () => {
  let calls = 0;
  const m = memoize((a, b) => {
    calls++;
    return typeof a === 'object' ? m(a.n, 'inner') + 1 : a * 10;
  });
  assert.equal(m({ n: 3 }), 31);
  assert.equal(m({ n: 3 }), 31);
  assert.equal(m(3, 'inner'), 30);
  assert.equal(calls, 2);
  assert.equal(m.stats().items, 2);
});

test('arguments that cannot be keyed by content throw TypeError and cache nothing', () => {
  let calls = 0;
  const m = memoize(() => ++calls);
  for (const bad of [() => 1, new (class A {})(), [Symbol('s')], { s: Symbol('s') }]) {
    assert.throws(() => m(bad), { name: 'TypeError', code: 'ERR_TWINCACHE_INVALID_ARGUMENT' });
  }
  assert.equal(calls, 0);
  assert.equal(m.stats().items, 0);
  const sym = Symbol('id'); // a symbol argument itself keys by identity
  m(sym);
  m(sym);
  m(sym, 1);
  m(sym, 1);
  assert.equal(calls, 2);
});
