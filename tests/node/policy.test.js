'use strict';
// The eviction policy as users see it: the default (the core's adaptive W-TinyLFU, ported to
// JavaScript for pure mode) resists scans and keeps a value just set readable; 'lru' is exact;
// eviction counts add up. Runs twice: native and TWINCACHE_PURE=1.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Cache, ByteCache, memoize } = require('twincache');

// get; on a miss, set (what the replay tool measures). Returns whether it hit.
function request(c, k) {
  if (c.get(k) !== undefined) return true;
  c.set(k, `v${k}`);
  return false;
}

test('a one-pass scan does not flush a hot set under the default policy (it does under lru)', () => {
  const kept = {};
  for (const policy of [undefined, 'lru']) {
    const c = new Cache({ max: 100, policy });
    for (let round = 0; round < 5; round++) for (let k = 0; k < 50; k++) request(c, k);
    for (let k = 1000; k < 3000; k++) request(c, k); // 2,000 keys, each seen once
    kept[policy ?? 'default'] = Array.from({ length: 50 }, (_, k) => k).filter((k) =>
      c.has(k),
    ).length;
  }
  assert.equal(kept.lru, 0);
  assert.ok(kept.default >= 45, `default policy kept ${kept.default} of 50 hot keys`);
});

test('a value just set is readable at once, whatever the admission decides', () => {
  const c = new Cache({ max: 10 });
  for (let round = 0; round < 20; round++) for (let k = 0; k < 10; k++) request(c, k);
  for (let k = 100; k < 1100; k++) {
    c.set(k, k * 2);
    assert.equal(c.get(k), k * 2, `key ${k}`);
    assert.equal(c.size, 10);
  }
  const b = new ByteCache({ max: 10 });
  for (let k = 0; k < 500; k++) {
    b.set(`k${k}`, `v${k}`);
    assert.equal(b.get(`k${k}`), `v${k}`);
  }
  let calls = 0;
  const m = memoize(
    (x) => {
      calls++;
      return x + 1;
    },
    { max: 10 },
  );
  for (let k = 0; k < 500; k++) {
    assert.equal(m(k), k + 1);
    assert.equal(m(k), k + 1); // the second call is a hit
  }
  assert.equal(calls, 500);
});

test("policy 'lru' keeps the exact least-recently-used order", () => {
  const c = new Cache({ max: 5, policy: 'lru' });
  const model = []; // most recently used first
  const touch = (k) => {
    const i = model.indexOf(k);
    if (i !== -1) model.splice(i, 1);
    model.unshift(k);
    if (model.length > 5) model.pop();
  };
  let seed = 7;
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const k = seed % 12;
    request(c, k);
    touch(k);
  }
  assert.deepEqual([...c.keys()], model);
});

test('eviction counts add up under the default policy (items and bytes)', () => {
  const c = new Cache({ max: 50 });
  for (let k = 0; k < 500; k++) c.set(k, k);
  for (let k = 0; k < 500; k++) c.get(k % 60);
  let s = c.stats();
  assert.equal(s.inserts, 500);
  assert.equal(s.items, 50);
  assert.equal(s.evictedItems, 450);
  assert.equal(s.evictedBytes, 0);
  assert.equal(s.evictions, 450);
  assert.equal(s.hits + s.misses, 500);

  // Each entry weighs 5 (key) + 100 (value) + 64 (overhead) = 169 bytes: 10 fit in 1,700.
  const b = new Cache({ maxBytes: 1700 });
  for (let k = 0; k < 100; k++) b.set(`k${1000 + k}`, 'x'.repeat(100));
  s = b.stats();
  assert.equal(s.inserts, 100);
  assert.equal(s.items, 10);
  assert.equal(s.bytes, 1690);
  assert.equal(s.evictedBytes, 90);
  assert.equal(s.evictedItems, 0);
});
