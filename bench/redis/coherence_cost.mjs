// What coherence on by default costs in Node (issue 17; run by bench/redis/coherence_cost.py,
// which starts the server): memoize's L1 hit, RedisCache#get's L2 hit (L1 of 1 item, 1000 keys of
// a 1 KiB value) and RedisCache#set, coherent: true vs false, rounds alternating; medians and the
// median per-round ratio (on / off). Not part of CI.
//   node bench/redis/coherence_cost.mjs <url> [repeat] [number]
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';

const require = createRequire(import.meta.url);
const { RedisCache, memoize } = require('../../node/lib');

const [url, repeat = '15', number = '400'] = process.argv.slice(2);
const SECRET = 'bench-secret-0123456789abcdef';
const VALUE = 'x'.repeat(1024);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function rounds(on, off, n) {
  const times = { on: [], off: [] };
  for (let r = 0; r < Number(repeat); r++) {
    for (const [name, fn] of [
      ['on', on],
      ['off', off],
    ]) {
      const t = performance.now();
      for (let i = 0; i < n; i++) await fn();
      times[name].push(((performance.now() - t) / n) * 1000);
    }
  }
  const ratio = median(times.on.map((a, i) => a / times.off[i]));
  return `on ${median(times.on).toFixed(2)} us  off ${median(times.off).toFixed(2)} us  on/off ${ratio.toFixed(2)}x`;
}

const mode = process.env.TWINCACHE_PURE ? 'pure' : 'native';
console.log(`node load average ${loadavg().map((x) => x.toFixed(2))}`);
const fns = {};
for (const coherent of [true, false]) {
  const f = memoize(async (x) => x, {
    backend: 'redis',
    url,
    secret: SECRET,
    ttl: 600000,
    namespace: `l1${coherent}js`,
    coherent,
  });
  await f(1);
  if (coherent) await f.cache.waitCoherent(5000);
  await f(1);
  fns[coherent] = f;
}
const n = Number(number);
console.log(
  `node (${mode}) L1 hit       `,
  await rounds(
    () => fns[true](1),
    () => fns[false](1),
    n * 25,
  ),
);
const caches = {};
const it = { true: 0, false: 0 };
for (const coherent of [true, false]) {
  const c = new RedisCache({
    url,
    namespace: `l2${coherent}js`,
    secret: SECRET,
    l1: { max: 1 },
    coherent,
  });
  const all = {};
  for (let i = 0; i < 1000; i++) all[i] = VALUE;
  await c.setMany(all);
  caches[coherent] = c;
}
const get = (c) => {
  it[c] = (it[c] + 1) % 1000;
  return caches[c].get(it[c]);
};
console.log(
  `node (${mode}) L2 hit       `,
  await rounds(
    () => get(true),
    () => get(false),
    n,
  ),
);
const put = (c) => {
  it[c] = (it[c] + 1) % 1000;
  return caches[c].set(it[c], VALUE);
};
console.log(
  `node (${mode}) set          `,
  await rounds(
    () => put(true),
    () => put(false),
    n,
  ),
);
for (const c of Object.values(caches)) await c.close();
for (const f of Object.values(fns)) await f.close();
