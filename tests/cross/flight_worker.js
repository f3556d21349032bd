'use strict';
// The Node half of tests/cross/redis_flight.py (single flight across processes): 25 concurrent
// RedisCache#fetch calls on one cold key, started together once the driver writes "go". The loader
// counts itself with INCR on a counter key (the side channel); with mode "kill" the first
// computation records its pid and hangs, for the driver to SIGKILL. Prints one JSON line: the
// values the callers got.
//
//   node flight_worker.js <url> <once|kill> <lease ms>
const path = require('node:path');
const readline = require('node:readline');
const { createClient } = require('redis');
const { RedisCache } = require(path.join(__dirname, '..', '..', 'node', 'lib'));

const CALLERS = 25;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const [url, mode, lease] = process.argv.slice(2);
  const side = createClient({ url });
  await side.connect();
  const c = new RedisCache({ url, namespace: 'flight', codec: 'json', timeout: 2000 });
  const loader = async () => {
    const n = await side.incr('flight:runs');
    if (mode === 'kill' && n === 1) {
      await side.set('flight:leader', String(process.pid));
      await sleep(60000); // killed by the driver long before
    }
    await sleep(500);
    return { v: 42, by: 'node', run: n };
  };
  console.log('ready');
  const rl = readline.createInterface({ input: process.stdin });
  await new Promise((resolve) => rl.once('line', resolve)); // "go"
  rl.close();
  const results = await Promise.all(
    Array.from({ length: CALLERS }, () =>
      c.fetch('stampede', loader, { ttl: 60000, lease: Number(lease) }),
    ),
  );
  console.log(JSON.stringify({ results, stats: c.stats() }));
  await c.close();
  await side.quit();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
