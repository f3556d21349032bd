// Issue 18's freshness cost on the disk and Redis tiers, Node: for memoize(fn, { backend: 'disk'
// }) and memoize(fn, { backend: 'redis' }) (its L1 hit, and its L2 hit with a one-entry L1 and
// keys rotating), a plain TTL hit against a hit with `stale` set (fresh) and against a stale hit
// that schedules a refresh (every call a new stale key; the refreshes of the timed rows never
// settle, so the reader's cost alone is timed). One run against its own redis-server on loopback
// (tests/node/redis_server.js). Not part of CI.
//
//   node bench/node/fresh_tiers.mjs [--repeat 15] [--number 400]
//
// Contenders run in turns, --repeat rounds; a figure is the median over the rounds of the time
// per call, wall and process CPU time (both printed). Disk rows: synchronous calls, judged in CPU
// time, 20x --number calls per round for the hits. Redis L1 rows: calls not awaited (the
// redis-backed function is async: a call's cost is that of returning its promise), judged in
// CPU time, 50x --number calls per round for the hits. Redis L2 rows: each call awaited, judged
// in wall time. Stale rows: --number calls per round, each a key of
// its own. Targets (issue 18): a hit with stale set <= 1.2x a plain TTL hit; a stale hit that
// schedules a refresh <= 1 µs.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { memoize, native } = require('../../node/lib');
const { RedisServer } = require('../../tests/node/redis_server.js');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(args[i + 1]);
};
const REPEAT = opt('repeat', 15);
const NUMBER = opt('number', 400);
const SECRET = 'bench-secret-0123456789abcdef';
const KEYS = 1000;
const TIMEOUT = 2000;
const stuck = new Promise(() => {}); // a refresh that never settles

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000; // ms
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// contenders: name -> [call(i), calls per round]; sync: calls not awaited. Returns name ->
// [wall ns, process CPU ns] per call, medians over the rounds.
async function measure(contenders, sync) {
  const names = Object.keys(contenders);
  const wall = Object.fromEntries(names.map((n) => [n, []]));
  const cpu = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of names) {
    const [f, number] = contenders[n];
    for (let i = 0; i < Math.min(number, 50); i++) await f(i); // warm up
  }
  for (let r = 0; r < REPEAT; r++) {
    for (const n of names) {
      const [f, number] = contenders[n];
      const w0 = performance.now();
      const c0 = cpuNow();
      if (sync) {
        for (let i = 0; i < number; i++) f(i);
      } else {
        for (let i = 0; i < number; i++) await f(i);
      }
      const c1 = cpuNow();
      const w1 = performance.now();
      wall[n].push(((w1 - w0) * 1e6) / number);
      cpu[n].push(((c1 - c0) * 1e6) / number);
      if (sync) await sleep(0); // between rounds (untimed): queued refreshes run
    }
  }
  return Object.fromEntries(names.map((n) => [n, [median(wall[n]), median(cpu[n])]]));
}

// which: 0 wall time, 1 CPU time (the figures judged); the other is shown in brackets.
function report(tier, both, which) {
  const r = Object.fromEntries(Object.entries(both).map(([n, p]) => [n, p[which]]));
  const o = Object.fromEntries(Object.entries(both).map(([n, p]) => [n, p[1 - which]]));
  const kinds = ['wall', 'CPU'];
  const ratio = r.stale / r.plain;
  const ns = (x) => x.toFixed(0).padStart(9);
  console.log(`${tier} (${kinds[which]} time; ${kinds[1 - which]} time in brackets)`);
  console.log(`  plain TTL hit                     ${ns(r.plain)} ns  [${o.plain.toFixed(0)}]`);
  console.log(
    `  hit with stale set (fresh)        ${ns(r.stale)} ns  [${o.stale.toFixed(0)}]  = ${ratio.toFixed(2)}x plain [${(o.stale / o.plain).toFixed(2)}x]  ${ratio <= 1.2 ? 'ok' : '(target <= 1.2x)'}`,
  );
  console.log(
    `  stale hit, schedules a refresh    ${ns(r.schedule)} ns  [${o.schedule.toFixed(0)}]  = ${(r.schedule / r.plain).toFixed(2)}x plain  ${r.schedule <= 1000 ? 'ok' : '(target <= 1 µs)'}`,
  );
}

function freshKeys(f) {
  let next = 0;
  return () => f(next++);
}

async function benchDisk(dir) {
  const id = (x) => x;
  let refreshing = false;
  const slow = (x) => (refreshing ? stuck : x);
  const plain = memoize(id, { backend: 'disk', path: path.join(dir, 'plain'), ttl: 60_000 });
  const stale = memoize(id, {
    backend: 'disk',
    path: path.join(dir, 'stale'),
    ttl: 60_000,
    stale: 30_000,
  });
  // ttl of 1 ms: every entry is stale soon after it is written (stale for a day)
  const schedule = memoize(slow, {
    backend: 'disk',
    path: path.join(dir, 'sched'),
    ttl: 1,
    stale: 86_400_000,
  });
  plain(1);
  stale(1);
  for (let i = 0; i < NUMBER * (REPEAT + 1); i++) schedule(i);
  await sleep(20);
  refreshing = true;
  return measure(
    {
      plain: [() => plain(1), NUMBER * 20],
      stale: [() => stale(1), NUMBER * 20],
      schedule: [freshKeys(schedule), NUMBER],
    },
    true,
  );
}

async function benchRedisL1(url) {
  const common = { backend: 'redis', url, secret: SECRET, timeout: TIMEOUT };
  const id = async (x) => x;
  let refreshing = false;
  const slow = async (x) => (refreshing ? stuck : x);
  const n = NUMBER * (REPEAT + 1);
  const plain = memoize(id, { ...common, namespace: 'l1p', ttl: 60_000 });
  const stale = memoize(id, { ...common, namespace: 'l1s', ttl: 60_000, stale: 30_000 });
  const schedule = memoize(slow, {
    ...common,
    namespace: 'l1x',
    ttl: 1,
    stale: 86_400_000,
    max: 2 * n,
  });
  await plain(1);
  await stale(1);
  for (let i = 0; i < n; i++) await schedule(i);
  await sleep(20); // past the 1 ms ttl in L1: every entry stale there
  refreshing = true;
  // Not awaited (the promise a call returns is its result): the reader's own cost, as
  // micro.mjs times the memory tier; the refreshes start after the round, untimed.
  const r = await measure(
    {
      plain: [() => plain(1), NUMBER * 50],
      stale: [() => stale(1), NUMBER * 50],
      schedule: [freshKeys(schedule), NUMBER],
    },
    true,
  );
  return [r, [plain, stale, schedule]];
}

async function benchRedisL2(url, raw) {
  const common = { backend: 'redis', url, secret: SECRET, timeout: TIMEOUT, max: 1 };
  const id = async (x) => x;
  let refreshing = false;
  const slow = async (x) => (refreshing ? stuck : x);
  const n = NUMBER * (REPEAT + 1);
  const plain = memoize(id, { ...common, namespace: 'l2p', ttl: 600_000 });
  const stale = memoize(id, { ...common, namespace: 'l2s', ttl: 600_000, stale: 600_000 });
  const schedule = memoize(slow, { ...common, namespace: 'l2x', ttl: 600_000, stale: 600_000 });
  for (let i = 0; i < KEYS; i++) {
    await plain(i);
    await stale(i);
  }
  for (let i = 0; i < n; i++) await schedule(i);
  // PEXPIRE into the stale window: its PTTL (300 s left of a 600 s window) says stale
  const names = [];
  let cursor = '0';
  do {
    const [next, batch] = await raw.sendCommand([
      'SCAN',
      cursor,
      'MATCH',
      'l2x:*',
      'COUNT',
      '1000',
    ]);
    cursor = String(next);
    names.push(...batch.map(String));
  } while (cursor !== '0');
  if (names.length !== n) throw new Error(`expected ${n} entries, found ${names.length}`);
  await Promise.all(names.map((name) => raw.pExpire(name, 300_000)));
  refreshing = true;
  const rot = (f) => (i) => f(i % KEYS);
  const r = await measure({
    plain: [rot(plain), NUMBER],
    stale: [rot(stale), NUMBER],
    schedule: [freshKeys(schedule), NUMBER],
  });
  return [r, [plain, stale, schedule]];
}

const load = () => os.loadavg()[0].toFixed(2);
console.log(`twincache ${native ? 'native' : 'pure'}, Node ${process.version}, load ${load()}`);
console.log(`${REPEAT} rounds; medians`);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-fresh-bench-'));
const server = new RedisServer();
await server.start();
const raw = await server.client();
const made = [];
try {
  report('disk memoize', await benchDisk(dir), 1);
  const [l1, l1fns] = await benchRedisL1(server.url);
  made.push(...l1fns);
  report('redis memoize, L1 hit', l1, 1);
  const [l2, l2fns] = await benchRedisL2(server.url, raw);
  made.push(...l2fns);
  report('redis memoize, L2 hit', l2, 0);
} finally {
  for (const f of made) await Promise.race([f.close(), sleep(1000)]);
  raw.destroy();
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`load after: ${load()}`);
process.exit(0); // the refreshes that never settle keep nothing else alive
