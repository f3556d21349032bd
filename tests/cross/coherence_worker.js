'use strict';
// One Node process of tests/cross/coherence_cross.py (the 4-process coherence test, issue 17): a
// coherent RedisCache (codec json, secret from $TWINCACHE_SECRET) driven by JSON lines on stdin,
// one reply line each on stdout; the same commands as coherence_worker.py:
//   hello, warm {key, value}, set {key, value}, delete {key}, await {key}
// Times are process.hrtime.bigint() (CLOCK_MONOTONIC on Linux, as Python's time.monotonic_ns).
// The moment of an invalidation is taken by a second subscriber of the cache's listener, called
// right after the cache's own (the listener calls them in order): L1 no longer serves k then.
const path = require('node:path');
const readline = require('node:readline');
const { RedisCache, native } = require(path.join(__dirname, '..', '..', 'node', 'lib'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => String(process.hrtime.bigint()); // exact, as a string

async function main() {
  const [url, namespace] = process.argv.slice(2);
  const c = new RedisCache({
    url,
    namespace,
    codec: 'json',
    ttl: 600000,
    timeout: 5000,
    coherent: true,
  });
  const armed = new Map(); // entry name -> its L1 key, listened for
  const seen = new Map(); // entry name -> { t, gone }
  const waiters = new Map(); // entry name -> resolve of an await
  const hook = (_owner, names) => {
    const t = now();
    for (const name of names === null ? [...armed.keys()] : names) {
      const l1Key = armed.get(name);
      if (l1Key === undefined) continue;
      armed.delete(name);
      seen.set(name, { t, gone: c._l1.peek(l1Key) === undefined });
      const w = waiters.get(name);
      if (w !== undefined) w();
    }
  };
  c._coh.listener.subscribe(c._coh.prefix, hook, hook); // after the cache's own subscription: called after it

  async function handle(cmd) {
    if (cmd.op === 'hello') return { ready: await c.waitCoherent(10000), native };
    const k = c._entryKey(cmd.key);
    if (cmd.op === 'warm') {
      const deadline = Date.now() + 10000;
      let got;
      while (Date.now() < deadline) {
        const hits = c.stats().l1_hits;
        got = await c.get(cmd.key);
        if (got === cmd.value && (await c.get(cmd.key)) === got && c.stats().l1_hits > hits) {
          armed.set(k.name, k.l1);
          seen.delete(k.name);
          return { ok: true, got };
        }
        await sleep(1);
      }
      return { ok: false, got: got === undefined ? null : got };
    }
    if (cmd.op === 'set') {
      const t_send = now();
      const ok = await c.set(cmd.key, cmd.value);
      return { ok, t_send, t_ack: now() };
    }
    if (cmd.op === 'delete') {
      const t_send = now();
      await c.delete(cmd.key);
      return { ok: c.stats().l2_errors === 0, t_send, t_ack: now() };
    }
    if (cmd.op === 'await') {
      if (!seen.has(k.name)) {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, 10000);
          waiters.set(k.name, () => {
            clearTimeout(timer);
            resolve();
          });
        });
        waiters.delete(k.name);
      }
      const found = seen.get(k.name);
      const read = await c.get(cmd.key);
      return {
        t_inv: found === undefined ? null : found.t,
        gone: found !== undefined && found.gone,
        read: read === undefined ? null : read,
      };
    }
    throw new Error(`unknown op ${cmd.op}`);
  }

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    process.stdout.write(JSON.stringify(await handle(JSON.parse(line))) + '\n');
  }
  await c.close();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
