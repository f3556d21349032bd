'use strict';
// Promise-returning functions: one in-flight promise per key, rejections not cached.
const test = require('node:test');
const assert = require('node:assert/strict');
const { memoize } = require('twincache');

const tick = () => new Promise((r) => setImmediate(r));

test('concurrent calls with one key share one in-flight promise', async () => {
  let calls = 0;
  const m = memoize(async (x) => {
    calls++;
    await tick();
    return x * 2;
  });
  const p1 = m(2);
  const p2 = m(2);
  assert.equal(p1, p2);
  assert.deepEqual(await Promise.all([p1, p2, m(3)]), [4, 4, 6]);
  assert.equal(calls, 2);
  assert.equal(await m(2), 4, 'resolved values stay cached');
  assert.equal(calls, 2);
});

test('a rejection is not cached: the next call retries', async () => {
  let calls = 0;
  const m = memoize(async (x) => {
    calls++;
    await tick();
    if (calls === 1) throw new Error('first fails');
    return x;
  });
  const a = m('k');
  const b = m('k');
  await assert.rejects(a, /first fails/);
  await assert.rejects(b, /first fails/);
  assert.equal(calls, 1);
  assert.equal(m.stats().items, 0);
  assert.equal(await m('k'), 'k');
  assert.equal(calls, 2);
  assert.equal(await m('k'), 'k');
  assert.equal(calls, 2);
});

test('a resolved promise is re-weighed by its value under maxBytes', async () => {
  const m = memoize(async (n) => 'x'.repeat(n), { maxBytes: 10000 });
  await m(1000);
  await tick();
  // key 8 (number) + value 1000 + overhead 64
  assert.equal(m.stats().bytes, 8 + 1000 + 64);
});

test('a resolved value heavier than maxBytes is dropped, not cached', async () => {
  let calls = 0;
  const m = memoize(
    async (n) => {
      calls++;
      return 'x'.repeat(n);
    },
    { maxBytes: 500 },
  );
  assert.equal((await m(1000)).length, 1000);
  await tick();
  assert.equal(m.stats().items, 0);
  await m(1000);
  assert.equal(calls, 2);
});
