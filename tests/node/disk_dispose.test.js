'use strict';
// DiskCache's dispose for the removals the store makes on its own (issue 18): entries culled to
// maxBytes by a write ('evicted', once each, with their key and value), expired rows reclaimed
// by a write ('expired'), a dispose that throws (reported as a warning, the cache keeps working)
// and one that reads and writes the cache while being told. Runs native (the addon's store and
// its removal reports) and TWINCACHE_PURE=1 (memory-only: the package's Cache tells them).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { DiskCache } = require('twincache');
const { _testing } = require('../../node/lib/disk.js');

const persistent = _testing.diskAddon().addon !== null;

function tmpDir() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-node-dispose-'));
  return path.join(root, 'cache');
}

function manualClock(t) {
  _testing.useManualClock(1_700_000_000_000);
  t.after(() => _testing.useRealClock());
}

// One committed write per name, each a later access than the one before.
function fill(c, names) {
  for (const name of names) {
    c.set(name, Buffer.alloc(500, name));
    c.flush();
    _testing.advance(2000); // access times have a 1 s resolution
  }
}

test('culling during writes tells each victim once, with its key and value', (t) => {
  manualClock(t);
  const told = [];
  const c = new DiskCache({
    path: tmpDir(),
    maxBytes: 2350,
    dispose: (v, k, reason) => told.push([k, Buffer.from(v).toString('latin1', 0, 2), reason]),
  });
  assert.equal(c.persistent, persistent);
  fill(c, ['k0', 'k1', 'k2', 'k3']); // about 4 x 510 bytes on disk (4 x 575 in memory): within the budget
  assert.deepEqual(told, []);
  fill(c, ['k4', 'k5', 'k6']); // each write culls the least recently used
  assert.deepEqual(told, [
    ['k0', 'k0', 'evicted'],
    ['k1', 'k1', 'evicted'],
    ['k2', 'k2', 'evicted'],
  ]);
  assert.equal(c.stats().evictions, 3);
  assert.deepEqual([...c.keys()].sort(), ['k3', 'k4', 'k5', 'k6']);
  // without a flush between writes (native: one write-behind batch): once each
  told.length = 0;
  for (let i = 7; i < 11; i++) c.set(`k${i}`, Buffer.alloc(500, 'x'));
  c.flush();
  assert.deepEqual(told.map(([k]) => k).sort(), ['k3', 'k4', 'k5', 'k6']);
  assert.deepEqual(new Set(told.map(([, , r]) => r)), new Set(['evicted']));
  assert.equal(c.stats().evictions, 7);
});

// The memory-only store of pure mode (Node 20 has no SQLite) culls by recency alone, so an
// expired entry over the budget goes as 'evicted' there; its prune() and reads tell 'expired'
// (tests/node/disk.test.js, 'dispose is told each removal with its reason').
const expiredFirst = persistent
  ? false
  : 'pure mode: the memory-only store culls by recency, not expired entries first';

test('expired rows reclaimed by a write are told expired', { skip: expiredFirst }, (t) => {
  manualClock(t);
  const told = [];
  const c = new DiskCache({
    path: tmpDir(),
    codec: 'json',
    maxBytes: 2350,
    dispose: (v, k, reason) => told.push([k, v, reason]),
  });
  c.set('t0', 'a'.repeat(500), { ttl: 1000 });
  c.set('t1', 'b'.repeat(500), { ttl: 1000 });
  c.set('keep', 'c'.repeat(500));
  c.flush();
  _testing.advance(2000);
  c.set('k0', 'd'.repeat(500));
  c.set('k1', 'e'.repeat(500)); // over the budget: the expired rows go first
  c.flush();
  told.sort(([a], [b]) => (a < b ? -1 : 1));
  assert.deepEqual(told, [
    ['t0', 'a'.repeat(500), 'expired'],
    ['t1', 'b'.repeat(500), 'expired'],
  ]);
  assert.deepEqual([...c.keys()].sort(), ['k0', 'k1', 'keep']);
});

test('a throwing dispose is reported and the cache keeps working', async (t) => {
  manualClock(t);
  const warned = [];
  const onWarning = (w) => {
    if (w.code === 'ERR_TWINCACHE_DISPOSE') warned.push(w.message);
  };
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const told = [];
  const c = new DiskCache({
    path: tmpDir(),
    maxBytes: 2350,
    dispose: (v, k) => {
      told.push(k);
      throw new Error(`dispose failed for ${k}`);
    },
  });
  fill(c, ['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
  assert.deepEqual(told, ['k0', 'k1']); // every victim told despite the errors
  c.set('z', Buffer.from('z')); // (in memory, with its 64-byte overhead, it culls k2 too)
  c.flush();
  assert.deepEqual(c.get('z'), Buffer.from('z'));
  assert.deepEqual(c.get('k5'), Buffer.alloc(500, 'k5'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(told.length, c.stats().evictions);
  assert.deepEqual(
    warned,
    told.map((k) => `dispose threw: dispose failed for ${k}`),
  );
});

test('a re-entrant dispose reads and writes the cache', (t) => {
  manualClock(t);
  const told = [];
  const c = new DiskCache({
    path: tmpDir(),
    maxBytes: 2350,
    dispose: (v, k, reason) => {
      told.push([k, reason, c.get(k)]); // a read from dispose: already gone
      if (k.startsWith('k')) c.set(`seen-${k}`, Buffer.from('s')); // may cull: told too
      c.flush();
    },
  });
  fill(c, ['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
  const keys = told.map(([k]) => k);
  assert.deepEqual(keys.slice(0, 2), ['k0', 'k1']);
  assert.equal(new Set(keys).size, keys.length); // once each
  assert.equal(c.has('seen-k0'), true);
  assert.equal(c.has('seen-k1'), true);
  assert.equal(c.stats().evictions, told.length);
  assert.deepEqual(new Set(told.map(([, r, v]) => `${r} ${v}`)), new Set(['evicted undefined']));
});
