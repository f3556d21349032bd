// harness.mjs: timing for bench/node. Each case gets its own loop function (compiled with
// new Function), so no call site is shared between contenders and each stays monomorphic.
import { performance } from 'node:perf_hooks';

// Calls per round so that one round lasts about `ms` milliseconds.
async function calibrate(loop, ms) {
  let n = 1000;
  for (;;) {
    const t0 = performance.now();
    await loop(n);
    const dt = performance.now() - t0;
    if (dt >= ms / 4 || n >= 1e8) return Math.max(1000, Math.round((n * ms) / Math.max(dt, 0.01)));
    n *= 4;
  }
}

// Best of `rounds` rounds of ~`ms` ms each, in nanoseconds per call.
export function timeSync(loop, { ms = 80, rounds = 7 } = {}) {
  let n = 1000;
  for (;;) {
    const t0 = performance.now();
    loop(n);
    const dt = performance.now() - t0;
    if (dt >= ms / 4 || n >= 1e8) {
      n = Math.max(1000, Math.round((n * ms) / Math.max(dt, 0.01)));
      break;
    }
    n *= 4;
  }
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    loop(n);
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n);
  }
  return best;
}

export async function timeAsync(loop, { ms = 80, rounds = 5 } = {}) {
  const n = await calibrate(loop, ms);
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    await loop(n);
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n);
  }
  return best;
}

// A fresh loop calling f(args) over a key table; `call` is the expression timed, with `f` the
// function under test, `k` the key table and `i` the iteration.
export function makeLoop(f, k, call) {
  // eslint-disable-next-line no-new-func
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
