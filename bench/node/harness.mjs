// harness.mjs: timing for bench/node. Each contender gets its own loop function (compiled with
// new Function) so no call site is shared between contenders and each stays monomorphic. The
// contenders of one case run interleaved, round after round, and each keeps its best round:
// on a shared, loaded machine that compares them under the same conditions.
import { performance } from 'node:perf_hooks';

const ROUND_MS = Number(process.env.BENCH_ROUND_MS || 40);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 15);

// Calls per round so that one round lasts about ROUND_MS.
async function calibrate(loop) {
  let n = 1000;
  for (;;) {
    const t0 = performance.now();
    await loop(n);
    const dt = performance.now() - t0;
    if (dt >= ROUND_MS / 4 || n >= 1e8) {
      return Math.max(1000, Math.round((n * ROUND_MS) / Math.max(dt, 0.01)));
    }
    n *= 4;
  }
}

// loops: { name: loop(n) (sync or async) } -> { name: best ns per call }
export async function timeGroup(loops) {
  const names = Object.keys(loops);
  const n = {};
  const best = {};
  for (const name of names) {
    n[name] = await calibrate(loops[name]);
    best[name] = Infinity;
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of names) {
      const t0 = performance.now();
      await loops[name](n[name]);
      best[name] = Math.min(best[name], ((performance.now() - t0) * 1e6) / n[name]);
    }
  }
  return best;
}

// A fresh loop timing `call`, where `f` is the function under test, `k` the key table and `i`
// the iteration.
export function makeLoop(f, k, call) {
  const body = `return function loop(n) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const r = ${call};
      if (r !== undefined) s++;
    }
    return s;
  };`;
  return new Function('f', 'k', body)(f, k);
}

export function makeAsyncLoop(f, k, call) {
  const body = `return async function loop(n) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const r = await ${call};
      if (r !== undefined) s++;
    }
    return s;
  };`;
  return new Function('f', 'k', body)(f, k);
}
