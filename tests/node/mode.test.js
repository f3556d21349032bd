'use strict';
// Which implementation runs: `native` is true only when the C++ addon is in use.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
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

// Which implementation a child process picks for a TWINCACHE_PURE value, and its warnings.
function modeFor(value) {
  const env = { ...process.env, TWINCACHE_PURE: value };
  const code =
    "process.on('warning', (w) => console.error('WARNING', w.code, w.message));" +
    "console.log(JSON.stringify(require('twincache').native))";
  const r = spawnSync(process.execPath, ['-e', code], { env, encoding: 'utf8', cwd: __dirname });
  assert.equal(r.status, 0, r.stderr);
  return { native: JSON.parse(r.stdout), warnings: r.stderr.match(/^WARNING .*$/gm) || [] };
}

test('TWINCACHE_PURE takes the values Python takes; anything else warns once', () => {
  // Regression: TWINCACHE_PURE=true selected pure Python but native Node.
  const nativeAvailable = process.env.TWINCACHE_EXPECT_NATIVE === '1';
  for (const value of ['1', 'true', 'YES', ' on ']) {
    assert.deepEqual(modeFor(value), { native: false, warnings: [] }, value);
  }
  for (const value of ['', '0', 'false', 'No', 'off']) {
    const got = modeFor(value);
    assert.deepEqual(got.warnings, [], value);
    if (nativeAvailable) assert.equal(got.native, true, value);
  }
  const bad = modeFor('maybe');
  if (nativeAvailable) assert.equal(bad.native, true);
  assert.deepEqual(bad.warnings, [
    "WARNING TWINCACHE_INVALID_ENV twincache: TWINCACHE_PURE='maybe' is not one of 1, true, yes, " +
      'on (pure implementation) or 0, false, no, off, empty (native); using the native one',
  ]);
});
