'use strict';
// ByteCache (byte mode): string keys, string or binary values, kept in the core in native mode.
const test = require('node:test');
const assert = require('node:assert/strict');
const { ByteCache, _testing } = require('twincache');

test('strings and binary values round-trip; binary comes back as a copy', () => {
  const c = new ByteCache();
  const buf = Buffer.from([1, 2, 3]);
  c.set('s', 'héllo')
    .set('b', buf)
    .set('u', new Uint8Array([9]));
  buf[0] = 99; // the cache keeps its own copy
  assert.equal(c.get('s'), 'héllo');
  assert.deepEqual(c.get('b'), Buffer.from([1, 2, 3]));
  assert.ok(Buffer.isBuffer(c.get('u')));
  assert.deepEqual([...c.get('u')], [9]);
  assert.equal(c.get('missing'), undefined);
  assert.equal(c.has('s'), true);
  assert.equal(c.size, 3);
  assert.equal(c.delete('s'), true);
  assert.equal(c.delete('s'), false);
  assert.equal(c.size, 2);
});

test('weights are UTF-8 bytes of key and value plus 64', () => {
  const c = new ByteCache();
  c.set('é', 'ab€'); // key 2 bytes, value 5 bytes
  assert.equal(c.stats().bytes, 2 + 5 + 64);
});

test('max and maxBytes evict; updates replace in place', () => {
  const c = new ByteCache({ max: 3, policy: 'lru' });
  for (const k of ['a', 'b', 'c']) c.set(k, k);
  c.get('a');
  c.set('d', 'd');
  assert.deepEqual([...c.keys()], ['d', 'a', 'c']);
  c.set('a', 'A');
  assert.equal(c.get('a'), 'A');
  assert.equal(c.stats().updates, 1);
  assert.equal(c.stats().evictedItems, 1);
  const b = new ByteCache({ maxBytes: 3 * (1 + 35 + 64) });
  for (let i = 0; i < 10; i++) b.set(String(i), 'x'.repeat(35));
  assert.equal(b.size, 3);
  assert.equal(b.stats().bytes, 300);
  assert.equal(b.stats().evictedBytes, 7);
});

test('an entry heavier than maxBytes is refused, cache unchanged', () => {
  const c = new ByteCache({ maxBytes: 100 });
  c.set('k', 'v');
  assert.throws(() => c.set('k', 'x'.repeat(100)), {
    name: 'RangeError',
    code: 'ERR_TWINCACHE_VALUE_TOO_LARGE',
    message:
      'entry size (key 1 + value 100 + overhead 64 bytes) must be at most ' +
      'max_bytes = 100 bytes (got 165 bytes)',
  });
  assert.equal(c.get('k'), 'v');
  assert.equal(c.stats().rejected, 1);
});

test('keys must be strings, values strings or bytes', () => {
  const c = new ByteCache();
  assert.throws(() => c.set(1, 'x'), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
    message: 'key must be a string (got number 1)',
  });
  assert.throws(() => c.set('k', { a: 1 }), {
    name: 'TypeError',
    message: 'value must be a string, a Buffer or a Uint8Array (got an object)',
  });
  assert.throws(() => c.get(null), { name: 'TypeError' });
  assert.throws(() => new ByteCache({ sizeOf: () => 1 }), { name: 'TypeError' });
  assert.throws(() => new ByteCache({ max: 0 }), { name: 'RangeError' });
  assert.equal(c.size, 0);
});

test('TTL through the injected clock (kept by the core in native mode)', () => {
  _testing.useManualClock(0);
  try {
    const c = new ByteCache({ ttl: 50 });
    c.set('a', '1');
    c.set('b', '2', { ttl: 5 });
    _testing.advance(5);
    assert.equal(c.get('b'), undefined);
    assert.equal(c.get('a'), '1');
    assert.deepEqual([...c.keys()], ['a']);
    _testing.advance(45);
    assert.equal(c.has('a'), false);
    assert.equal(c.stats().expirations, 2);
    c.set('x', '1', { ttl: 1 });
    _testing.advance(1);
    assert.equal(c.prune(), 1);
    assert.equal(c.size, 0);
  } finally {
    _testing.useRealClock();
  }
});

test('clear counts entries as cleared; fetch loads once per key', async () => {
  const c = new ByteCache();
  c.set('a', '1').set('b', '2');
  c.clear();
  assert.equal(c.size, 0);
  assert.equal(c.stats().cleared, 2);
  let calls = 0;
  const loader = async (k) => {
    calls++;
    return k.toUpperCase();
  };
  const [x, y] = await Promise.all([c.fetch('q', loader), c.fetch('q', loader)]);
  assert.equal(x, 'Q');
  assert.equal(y, 'Q');
  assert.equal(calls, 1);
  assert.equal(c.get('q'), 'Q');
  await assert.rejects(
    c.fetch('r', async () => {
      throw new Error('nope');
    }),
    /nope/,
  );
  assert.equal(c.has('r'), false);
});

test('strings with a lone surrogate are refused (UTF-8 has no encoding for them)', () => {
  const c = new ByteCache();
  const err = {
    name: 'RangeError',
    code: 'ERR_TWINCACHE_OUT_OF_RANGE',
    message: 'key must be well-formed UTF-16 (got a lone surrogate)',
  };
  assert.throws(() => c.set('a\uD800', 'x'), err);
  assert.throws(() => c.get('a\uD800'), err);
  assert.throws(() => c.set('a', 'x\uDC00'), {
    message: 'value must be well-formed UTF-16 (got a lone surrogate)',
  });
  c.set('😀', '✓');
  assert.equal(c.get('😀'), '✓');
  assert.equal(c.size, 1);
});
