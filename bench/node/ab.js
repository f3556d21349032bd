'use strict';
// ab.js: an in-process A/B of the Cache hot paths (get hit, set update; 1024 live keys) between
// an older checkout's node/lib (BENCH_BEFORE=<its node/lib>, with an addon in its
// node/prebuilds when native) and this one, in CPU time (process.cpuUsage: steadier than the
// wall clock on a loaded machine), all cases interleaved over ROUNDS rounds. For changes that
// must not cost a cache without the new option anything (issue 18's dispose):
//   BENCH_BEFORE=/tmp/old/node/lib [TWINCACHE_PURE=1] node bench/node/ab.js
const path = require('node:path');

if (!process.env.BENCH_BEFORE) {
  console.error('ab.js: set BENCH_BEFORE to the node/lib directory of the build to compare with');
  process.exit(2);
}
const libs = {
  before: require(path.resolve(process.env.BENCH_BEFORE, 'index.js')),
  after: require('../../node/lib/index.js'),
};
const N = 1024;
const MASK = N - 1;
const ITER = 2_000_000;
const ROUNDS = 15;
const keys = Array.from({ length: N }, (_, i) => 'key:' + i);

function make(lib, policy) {
  const c = new lib.Cache(policy ? { max: 10_000, policy } : { max: 10_000 });
  for (const k of keys) c.set(k, k.length);
  return c;
}

// ns per call of f's ITER calls, in CPU time.
function cpu(f) {
  const t = process.cpuUsage();
  f();
  const d = process.cpuUsage(t);
  return ((d.user + d.system) * 1000) / ITER;
}

const cases = [];
for (const which of ['before', 'after']) {
  for (const policy of [undefined, 'lru']) {
    const c = make(libs[which], policy);
    const name = `${which} ${policy || 'default'}`;
    cases.push([
      `get ${name}`,
      () => {
        let s = 0;
        for (let i = 0; i < ITER; i++) s += c.get(keys[i & MASK]);
        return s;
      },
    ]);
    cases.push([
      `set ${name}`,
      () => {
        for (let i = 0; i < ITER; i++) c.set(keys[i & MASK], i);
      },
    ]);
  }
}
const results = {};
for (const [, f] of cases) f(); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, f] of cases) (results[name] ||= []).push(cpu(f));
}
console.log(`mode: ${libs.after.native ? 'native' : 'pure'}; ns per call, over ${ROUNDS} rounds`);
for (const [name] of cases) {
  const v = results[name].slice().sort((a, b) => a - b);
  console.log(`${name.padEnd(22)} min ${v[0].toFixed(1)}  median ${v[v.length >> 1].toFixed(1)}`);
}
