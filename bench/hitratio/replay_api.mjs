// replay_api.mjs: replays the shared traces through twincache's public Node API, as a user's code
// would run them, so the hit ratio users get can be set beside the replay tool's
// (twincache_hitratio) and bench/hitratio/replay_api.py's. Every request counts; hit ratio =
// hits / requests, in percent.
//
//   --api cache      c = new Cache({ max: N }); c.get(k); on a miss (undefined) c.set(k, 1)
//   --api memoize    memoize(identity, { max: N }) called once per request; a miss is a call of
//                    the function (counted by the function itself)
//   --api bytecache  b = new ByteCache({ max: N }) with the key's decimal string (ByteCache keys
//                    are strings); on a miss b.set(s, '1')
//
// --policy default passes no policy (what a user gets); --policy lru passes policy: 'lru'. Keys
// are the trace's integers as numbers (BigInt above 2^53, where a number would merge keys). The
// implementation is whichever `import 'twincache'` loads: TWINCACHE_PURE=1 selects pure
// JavaScript; --expect native|pure fails the run if the other one loaded. The counters the API
// reports (stats().hits) must agree with the counts seen from outside, or the run fails.
//
//   node bench/hitratio/replay_api.mjs --api cache --trace lirs_gli --capacity 1000
//   TWINCACHE_PURE=1 node bench/hitratio/replay_api.mjs --api memoize --policy lru --cells ci.json
//
// --lossless-ring (native Cache and memoize only, a measurement, not an API): makes the read
// ring that carries hits to the core lossless, as it is under 'lru', by clearing the cache's
// private `_lossy` flag, so the hit ratio the lossy ring costs can be measured (docs/hit-ratio.md).
//
// --cells reads the cells from the replay tool's --json output (compare_api.py passes them);
// --json prints one JSON object per cell instead of a line of text. Traces come from
// ../shared/traces next to the repository (TWINCACHE_TRACES or --traces overrides).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { ByteCache, Cache, memoize, native } from 'twincache';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const defaultTraces = process.env.TWINCACHE_TRACES || join(dirname(root), 'shared', 'traces');

// The trace's requests: one decimal key per line, blank lines skipped (as the tool does).
function readKeys(traces, name) {
  const path = name.includes('/') ? name : join(traces, `${name}.txt.gz`);
  const words = gunzipSync(readFileSync(path)).toString('latin1').split(/\s+/);
  const keys = [];
  for (const w of words) {
    if (w === '') continue;
    const n = Number(w);
    keys.push(Number.isSafeInteger(n) ? n : BigInt(w));
  }
  return keys;
}

// Each returns [hits seen by the caller, hits the API's stats() reports].
// Under --lossless-ring: a full read ring is replayed into the core instead of dropping hits.
let lossless = false;
function ring(cache) {
  if (lossless) {
    if (!('_lossy' in cache)) throw new Error('--lossless-ring: this cache has no read ring');
    cache._lossy = false;
  }
  return cache;
}

const apis = {
  cache(keys, max, policy) {
    const c = ring(new Cache({ max, ...policy }));
    let misses = 0;
    for (const k of keys) {
      if (c.get(k) === undefined) {
        misses++;
        c.set(k, 1);
      }
    }
    return [keys.length - misses, c.stats().hits];
  },
  memoize(keys, max, policy) {
    let calls = 0;
    const identity = memoize(
      (k) => {
        calls++;
        return k;
      },
      { max, ...policy },
    );
    ring(identity.cache);
    for (const k of keys) identity(k);
    return [keys.length - calls, identity.stats().hits];
  },
  bytecache(keys, max, policy) {
    const b = new ByteCache({ max, ...policy });
    let misses = 0;
    for (const k of keys) {
      const s = String(k);
      if (b.get(s) === undefined) {
        misses++;
        b.set(s, '1');
      }
    }
    return [keys.length - misses, b.stats().hits];
  },
};

function usage(why) {
  console.error(`replay_api.mjs: ${why}`);
  console.error(
    'usage: node bench/hitratio/replay_api.mjs --api cache|memoize|bytecache ' +
      '[--policy default|lru] (--cells FILE | --trace NAME --capacity N[,N...]) ' +
      '[--traces DIR] [--expect native|pure] [--json] [--lossless-ring]',
  );
  process.exit(2);
}

function cellsFrom(values) {
  if (values.cells !== undefined) {
    const cells = [];
    const seen = new Set();
    for (const r of JSON.parse(readFileSync(values.cells, 'utf8'))) {
      const id = `${r.trace}@${r.capacity}`;
      if (!seen.has(id)) {
        seen.add(id);
        cells.push([r.trace, Number(r.capacity)]);
      }
    }
    return cells;
  }
  if (values.trace === undefined || values.capacity === undefined) {
    usage('give --cells FILE, or --trace NAME --capacity N[,N...]');
  }
  return values.capacity.split(',').map((c) => [values.trace, Number(c)]);
}

function main() {
  const { values } = parseArgs({
    options: {
      api: { type: 'string' },
      policy: { type: 'string', default: 'default' },
      cells: { type: 'string' },
      trace: { type: 'string' },
      capacity: { type: 'string' },
      traces: { type: 'string', default: defaultTraces },
      expect: { type: 'string' },
      json: { type: 'boolean', default: false },
      'lossless-ring': { type: 'boolean', default: false },
    },
  });
  const replay = apis[values.api];
  if (replay === undefined) usage(`--api must be one of ${Object.keys(apis).join(', ')}`);
  if (values.policy !== 'default' && values.policy !== 'lru') {
    usage('--policy must be default or lru');
  }
  const mode = native ? 'native' : 'pure';
  lossless = values['lossless-ring'];
  if (lossless && (mode !== 'native' || values.api === 'bytecache')) {
    usage('--lossless-ring applies to native Cache and memoize only');
  }
  if (values.expect !== undefined && values.expect !== mode) {
    console.error(
      `replay_api.mjs: expected the ${values.expect} implementation, ${mode} loaded ` +
        `(TWINCACHE_PURE=${JSON.stringify(process.env.TWINCACHE_PURE ?? '')})`,
    );
    process.exit(2);
  }
  const policy = values.policy === 'default' ? {} : { policy: values.policy };
  const loaded = new Map();
  let failed = false;
  for (const [trace, capacity] of cellsFrom(values)) {
    if (!loaded.has(trace)) loaded.set(trace, readKeys(values.traces, trace));
    const keys = loaded.get(trace);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const [hits, reported] = replay(keys, capacity, policy);
    const seconds = (performance.now() - t0) / 1000;
    const c1 = process.cpuUsage(c0);
    const ratio = (100 * hits) / keys.length;
    if (reported !== hits) {
      failed = true;
      console.error(
        `replay_api.mjs: ${values.api} ${trace} @${capacity}: the API reports ${reported} ` +
          `hits, the caller saw ${hits}`,
      );
    }
    if (values.json) {
      const row = {
        lang: 'node',
        api: values.api,
        mode,
        policy: values.policy,
        ring: lossless ? 'lossless' : 'default',
        trace,
        capacity,
        requests: keys.length,
        hits,
        reported_hits: reported,
        hit_ratio: ratio,
        seconds,
        cpu_seconds: (c1.user + c1.system) / 1e6,
      };
      console.log(JSON.stringify(row));
    } else {
      console.log(
        `${values.api.padEnd(9)} ${mode.padEnd(6)} ${values.policy.padEnd(7)} ` +
          `${trace.padEnd(20)} ${String(capacity).padStart(6)} ${ratio.toFixed(2).padStart(7)}` +
          `  (${seconds.toFixed(1)} s)`,
      );
    }
  }
  process.exitCode = failed ? 1 : 0;
}

main();
