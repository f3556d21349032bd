// bench/node: every Node figure in one run (`npm run bench` or `node bench/node/run.mjs`).
//   1. hit paths (micro.mjs), one process per case, twice: twincache native, then TWINCACHE_PURE=1
//   2. a big cache (bigcache.mjs): 1M entries of ~100-byte strings, heap and full-GC pause,
//      one process per contender
// Prints tables, the ratios the targets of issue 4 name, and (with --markdown) the block that
// docs/benchmarks.md's "Node" section holds. Timings: best of 15 interleaved ~40 ms rounds.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const markdown = process.argv.includes('--markdown');

function child(script, args, env) {
  const out = execFileSync(process.execPath, ['--expose-gc', path.join(here, script), ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.trim().split('\n').pop());
}

// One process per case and mode: libraries used by several cases (lru-cache) would otherwise
// see several configurations and run with polymorphic inline caches.
const CASES = ['memo1', 'memoMiss', 'memo3', 'memoObj', 'cache', 'bytes', 'async'];
function micro(pureMode) {
  const merged = { results: {} };
  for (const only of CASES) {
    const r = child('micro.mjs', [], { TWINCACHE_PURE: pureMode ? '1' : '', BENCH_ONLY: only });
    merged.mode = r.mode;
    Object.assign(merged.results, r.results);
  }
  return merged;
}
const native = micro(false);
if (native.mode !== 'native') {
  console.error('bench: the native addon did not load; run node node/scripts/build-native.js');
  process.exit(1);
}
const pure = micro(true);
const big = ['lru-cache', 'twincache-Cache', 'twincache-ByteCache'].map((c) =>
  child('bigcache.mjs', [c], { TWINCACHE_PURE: '' }),
);

const lines = [];
const say = (s = '') => lines.push(s);
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

say(
  `Node ${process.version}, ${os.cpus()[0].model}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}.`,
);
say(
  'ns per call, best of 15 interleaved rounds, one process per case; every memoizer holds 1024 ' +
    'live keys and every call hits.',
);
say();
for (const group of Object.keys(native.results)) {
  const rows = native.results[group];
  if (!('twincache' in rows)) {
    // A case of twincache's own classes: native and pure side by side, against the first row.
    const [base] = Object.keys(rows);
    say(`| ${group} | ns/call, native | ns/call, TWINCACHE_PURE=1 | vs ${base} (native) |`);
    say('| --- | ---: | ---: | ---: |');
    for (const [name, ns] of Object.entries(rows)) {
      const p = pure.results[group][name];
      say(`| ${name} | ${fmt(ns)} | ${fmt(p)} | ${(ns / rows[base]).toFixed(2)}x |`);
    }
    say();
    continue;
  }
  say(`| ${group} | ns/call | vs twincache (native) |`);
  say('| --- | ---: | ---: |');
  const t = rows.twincache;
  say(`| twincache (native) | ${fmt(t)} | 1.00x |`);
  const p = pure.results[group].twincache;
  say(`| twincache (TWINCACHE_PURE=1) | ${fmt(p)} | ${(p / t).toFixed(2)}x |`);
  for (const [name, ns] of Object.entries(rows)) {
    if (name !== 'twincache') say(`| ${name} | ${fmt(ns)} | ${(ns / t).toFixed(2)}x |`);
  }
  say();
}

say(
  '| 1M entries, ~100-byte strings | V8 heap used (MB) | full GC pause, fastest of 9 (ms) | ' +
    'median (ms) | RSS (MB) | fill (ms) |',
);
say('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const b of big) {
  say(
    `| ${b.contender} | ${b.heapMB} | ${b.gcPauseMs} | ${b.gcPauseMedianMs} | ${b.rssMB} | ${b.fillMs} |`,
  );
}
say();

// The targets of issue 4, as ratios (lower is better; each must be <= its target).
const r = native.results;
const rp = pure.results;
const hand = 'hand memo over lru-cache';
const targets = [
  [
    'memoize hit, 1 number arg / hand memo over lru-cache',
    r['memoize hit, 1 number arg'],
    hand,
    1.2,
  ],
  [
    'memoize hit, 3 mixed args / hand memo over lru-cache',
    r['memoize hit, 3 mixed args'],
    hand,
    1.2,
  ],
  [
    'memoize hit, 1 object arg / hand memo over lru-cache',
    r['memoize hit, 1 object arg'],
    hand,
    1.2,
  ],
  ['Cache.get / lru-cache get', r['Cache.get (hit)'], 'lru-cache', 1.2],
  ['memoize hit, 1 number arg / memoizee', r['memoize hit, 1 number arg'], 'memoizee', 0.1],
  [
    'memoize hit, 1 number arg / micro-memoize',
    r['memoize hit, 1 number arg'],
    'micro-memoize',
    0.1,
  ],
  ['memoize hit, 3 mixed args / memoizee', r['memoize hit, 3 mixed args'], 'memoizee', 0.1],
  [
    'memoize hit, 3 mixed args / micro-memoize',
    r['memoize hit, 3 mixed args'],
    'micro-memoize',
    0.1,
  ],
  ['async memoize hit / lru-cache fetch', r['async memoize hit (await)'], 'lru-cache fetch', 1.0],
];
say('| target (native; pure in brackets) | ratio | target | met |');
say('| --- | ---: | ---: | :---: |');
for (const [label, group, peer, limit] of targets) {
  const ratio = group.twincache / group[peer];
  const groupName = Object.keys(r).find((g) => r[g] === group);
  const pureRatio = rp[groupName].twincache / group[peer];
  say(
    `| ${label} | ${ratio.toFixed(2)} (${pureRatio.toFixed(2)}) | <= ${limit} | ${ratio <= limit ? 'yes' : 'NO'} |`,
  );
}
// The miss path (issue 13): no target is set for Node; the ratio is reported.
const miss = r['memoize miss (insert + evict), max 128'];
say(
  `| memoize miss, max 128 / hand memo over lru-cache | ${(miss.twincache / miss[hand]).toFixed(2)} ` +
    `(${(rp['memoize miss (insert + evict), max 128'].twincache / miss[hand]).toFixed(2)}) | - | - |`,
);
const lru = big.find((b) => b.contender === 'lru-cache');
const bytes = big.find((b) => b.contender === 'twincache-ByteCache');
const gcRatio = bytes.gcPauseMs / lru.gcPauseMs;
say(
  `| full GC, 1M entries: ByteCache / lru-cache | ${gcRatio.toFixed(3)} | <= 0.1 | ${gcRatio <= 0.1 ? 'yes' : 'NO'} |`,
);

console.log(lines.join('\n'));
if (!markdown) console.log('\n(--markdown prints only this block for docs/benchmarks.md)');
