// ESM entry: named and default exports; one package instance shared with require().
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import twincache, { memoize, Cache, ByteCache, native, _testing } from 'twincache';

const require = createRequire(import.meta.url);

test('ESM named exports are the CommonJS exports', () => {
  const cjs = require('twincache');
  assert.equal(memoize, cjs.memoize);
  assert.equal(Cache, cjs.Cache);
  assert.equal(ByteCache, cjs.ByteCache);
  assert.equal(native, cjs.native);
  assert.equal(_testing, cjs._testing);
  assert.equal(twincache, cjs);
});

test('memoize and Cache work from ESM', () => {
  const sq = memoize((x) => x * x);
  assert.equal(sq(9), 81);
  assert.equal(sq(9), 81);
  assert.equal(sq.stats().hits, 1);
  const c = new Cache({ max: 1 });
  c.set('a', 1).set('b', 2);
  assert.equal(c.size, 1);
  assert.equal(c.get('b'), 2);
});
