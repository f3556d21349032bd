'use strict';
// One side of the two-language test (run by run_cross.py): the Node twin of writer.py.
const assert = require('node:assert/strict');
const { DiskCache } = require('../..');

function value(side, i) {
  return {
    side,
    i,
    text: `héllo ${side} ✓ ${i}`,
    list: [i, i * 0.5, null, true, 'x'],
    big: 'abc'.repeat(i % 50 === 0 ? 2000 : 1),
  };
}

function main() {
  const [dir, me, other, nText] = process.argv.slice(2);
  const n = Number(nText);
  const cache = new DiskCache({ path: dir, codec: 'json' });
  assert.equal(cache.persistent, true, 'the cross-language test needs the disk addon');
  cache.set(`${me}-bytes`, Buffer.from([0, 1, 2, 255])); // stored raw: bytes in Python
  const seen = new Set();
  for (let i = 0; i < n; i++) {
    cache.set(`${me}-${i}`, value(me, i));
    cache.set('shared', value(me, i));
    const got = cache.get(`${other}-${Math.floor(i / 2)}`);
    if (got !== undefined) {
      assert.deepEqual(got, value(other, Math.floor(i / 2)));
      seen.add(Math.floor(i / 2));
    }
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    for (let i = 0; i < n; i++) {
      if (seen.has(i)) continue;
      const got = cache.get(`${other}-${i}`);
      if (got !== undefined) {
        assert.deepEqual(got, value(other, i));
        seen.add(i);
      }
    }
    if (seen.size === n) break;
    if (Date.now() > deadline) {
      console.error(`writer.js: saw ${seen.size} of ${n} entries from ${other}`);
      process.exit(1);
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  assert.deepEqual(cache.get(`${other}-bytes`), Buffer.from([0, 1, 2, 255]));
  assert.ok([me, other].includes(cache.get('shared').side));
  console.log(`writer.js (${me}): wrote ${n}, read all ${n} written by ${other}`);
}

main();
