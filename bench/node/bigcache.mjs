// bigcache.mjs: one contender per process (run.mjs starts them with --expose-gc): fills a cache
// with ENTRIES entries of ~100-byte strings, then reports the V8 heap in use and the pause of a
// full garbage collection (9 forced major GCs: the fastest, which is the least disturbed by other
// processes on the machine, and the median), as JSON.
import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import twincache from '../../node/lib/index.js';

const which = process.argv[2];
const ENTRIES = Number(process.env.BENCH_ENTRIES || 1_000_000);
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');

function make() {
  switch (which) {
    case 'lru-cache':
      return new LRUCache({ max: ENTRIES });
    case 'twincache-Cache':
      return new twincache.Cache({ max: ENTRIES });
    case 'twincache-ByteCache':
      return new twincache.ByteCache({ max: ENTRIES });
    default:
      throw new Error(`unknown contender ${which}`);
  }
}

function heapUsed() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
}

const base = heapUsed();
const cache = make();
// Each value is its own flat 100-byte string (built from a buffer, not a slice or a rope).
const buf = Buffer.alloc(100, 'v');
const t0 = performance.now();
for (let i = 0; i < ENTRIES; i++) {
  buf.write(String(i).padStart(12, '0'), 0, 'latin1');
  cache.set('key:' + i, buf.toString('latin1'));
}
const fillMs = performance.now() - t0;
const heap = heapUsed() - base;
const pauses = [];
for (let r = 0; r < 9; r++) {
  const t = performance.now();
  globalThis.gc();
  pauses.push(performance.now() - t);
}
pauses.sort((a, b) => a - b);
if (cache.get('key:' + (ENTRIES - 1)) === undefined) throw new Error('the cache lost an entry');
console.log(
  JSON.stringify({
    contender: which,
    entries: ENTRIES,
    native: twincache.native,
    heapMB: Math.round((heap / 2 ** 20) * 10) / 10,
    rssMB: Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10,
    gcPauseMs: Math.round(pauses[0] * 100) / 100,
    gcPauseMedianMs: Math.round(pauses[4] * 100) / 100,
    fillMs: Math.round(fillMs),
  }),
);
