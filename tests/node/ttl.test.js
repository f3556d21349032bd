'use strict';
// TTL through the injected clock (no sleeps): the private _testing export drives JavaScript's
// clock and, in native mode, the core's.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Cache, memoize, _testing } = require('twincache');

test.beforeEach(() => _testing.useManualClock(1000));
test.afterEach(() => _testing.useRealClock());

test('an entry lives for ttl ms and is never returned after', () => {
  const c = new Cache({ ttl: 100 });
  c.set('a', 1);
  _testing.advance(99);
  assert.equal(c.get('a'), 1);
  _testing.advance(1);
  assert.equal(c.get('a'), undefined);
  assert.equal(c.has('a'), false);
  assert.equal(c.size, 0);
  const s = c.stats();
  assert.equal(s.expirations, 1);
  assert.equal(s.hits, 1);
  assert.equal(s.misses, 1);
});

test('a per-entry ttl overrides the default; no ttl means never', () => {
  const c = new Cache({ ttl: 100 });
  c.set('short', 1, { ttl: 10 });
  c.set('default', 2);
  const d = new Cache();
  d.set('forever', 3);
  d.set('long', 4, { ttl: 1000 });
  _testing.advance(10);
  assert.equal(c.get('short'), undefined);
  assert.equal(c.get('default'), 2);
  _testing.advance(1e9);
  assert.equal(c.get('default'), undefined);
  assert.equal(d.get('forever'), 3);
  assert.equal(d.get('long'), undefined);
});

test('expired entries are skipped by keys/entries and reclaimed by prune()', () => {
  const c = new Cache();
  c.set('a', 1, { ttl: 5 });
  c.set('b', 2, { ttl: 50 });
  c.set('c', 3);
  _testing.advance(5);
  assert.deepEqual([...c.keys()].sort(), ['b', 'c']);
  assert.equal(c.prune(), 1);
  assert.equal(c.size, 2);
  assert.equal(c.stats().expirations, 1);
});

test('setting an expired key inserts it afresh', () => {
  const c = new Cache({ ttl: 10 });
  c.set('a', 1);
  _testing.advance(20);
  c.set('a', 2);
  assert.equal(c.get('a'), 2);
  const s = c.stats();
  assert.equal(s.expirations, 1);
  assert.equal(s.inserts, 2);
  assert.equal(s.updates, 0);
});

test('an update restarts the ttl', () => {
  const c = new Cache({ ttl: 10 });
  c.set('a', 1);
  _testing.advance(8);
  c.set('a', 2);
  _testing.advance(8);
  assert.equal(c.get('a'), 2);
});

test('memoize ttl: the function runs again once the result expired', () => {
  let calls = 0;
  const f = memoize((x) => ++calls + x, { ttl: 1000 });
  assert.equal(f(0), 1);
  _testing.advance(999);
  assert.equal(f(0), 1);
  _testing.advance(1);
  assert.equal(f(0), 2);
  assert.equal(f.stats().expirations, 1);
});

test('a bad per-entry ttl throws and leaves the entry as it was', () => {
  const c = new Cache();
  c.set('a', 1);
  for (const ttl of [0, -5, NaN, Infinity]) {
    assert.throws(() => c.set('a', 2, { ttl }), {
      name: 'RangeError',
      code: 'ERR_TWINCACHE_OUT_OF_RANGE',
    });
  }
  assert.throws(() => c.set('a', 2, { ttl: '5' }), { name: 'TypeError' });
  assert.equal(c.get('a'), 1);
});

test('memoize ttl with several arguments and with an object argument', () => {
  let calls = 0;
  const f = memoize((a, b) => ++calls, { ttl: 10 });
  const g = memoize((o) => ++calls, { ttl: 10 });
  f(1, 'a');
  g({ x: 1 });
  _testing.advance(10);
  f(1, 'a');
  g({ x: 1 });
  assert.equal(calls, 4);
  f(1, 'a');
  g({ x: 1 });
  assert.equal(calls, 4, 'the fresh results are cached again');
  assert.equal(f.stats().items, 1);
  assert.equal(f.stats().expirations, 1);
});
