'use strict';
// Which implementation runs: `native` is true only when the C++ addon is in use.
const test = require('node:test');
const assert = require('node:assert/strict');
const twincache = require('twincache');

test('TWINCACHE_PURE=1 selects pure JavaScript; otherwise the native addon (when expected)', () => {
  if (process.env.TWINCACHE_PURE === '1') {
    assert.equal(twincache.native, false);
  } else if (process.env.TWINCACHE_EXPECT_NATIVE === '1') {
    assert.equal(twincache.native, true, 'the prebuilt addon must load in the native run');
  } else {
    assert.equal(typeof twincache.native, 'boolean');
  }
});
