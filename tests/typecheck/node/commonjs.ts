// A CommonJS user program (tsconfig.commonjs.json: module commonjs, no esModuleInterop), compiled
// with tsc --strict and run, native and TWINCACHE_PURE=1, by scripts/test-types. The package's
// CommonJS entry has no default export: the types must say so (a default import does not
// compile here, and `twincache.default` does not exist).
import twincache = require('twincache');
import { memoize, Cache, ByteCache, DiskCache, RedisCache, native, version } from 'twincache';
import type { DiskMemoized, DiskStats, DisposeReason, Memoized, Policy, Stats } from 'twincache';
import type { RedisMemoized, RedisStats, RedisTlsOptions } from 'twincache';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { STATS_KEYS, DISK_STATS_KEYS, sameKeys, check } from './shared';

// @ts-expect-error: the CommonJS entry has no default export (this would crash at run time)
import noDefault from 'twincache';
// @ts-expect-error: nor a `default` property
check(twincache.default === undefined, 'no default property at run time');
check(!('default' in twincache), 'module.exports has no default');
void noDefault;

check(twincache.memoize === memoize && twincache.Cache === Cache, 'one exports object');
check(native === (process.env.TWINCACHE_PURE !== '1'), `native is ${native}`);
check(typeof version === 'string' && version === twincache.version, 'version');

// memoize (memory): the function's own type, plus the helpers.
const area = memoize((w: number, h: number) => w * h, { max: 100, ttl: 60_000, policy: 'lru' });
const a: number = area(3, 4);
check(area(3, 4) === 12 && a === 12, 'area');
const removed: boolean = area.delete(3, 4);
check(removed, 'delete');
const s: Stats = area.stats();
check(s.hits === 1 && s.misses === 1 && s.deleted === 1, 'memo stats');
sameKeys('memoize().stats()', s, STATS_KEYS);
area.clear();
const memo: Memoized<(w: number, h: number) => number> = area;
check(memo.cache.size === 0, 'cache.size');

// memoize (disk): the overload for backend 'disk' gives the disk memo and its stats() shape.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-types-'));
try {
  const twice = memoize((x: number) => x * 2, { backend: 'disk', path: dir, ttl: 60_000 });
  const onDisk: DiskMemoized<(x: number) => number> = twice;
  check(onDisk(2) === 4 && twice(2) === 4, 'disk memo');
  const ds: DiskStats = twice.stats();
  check(ds.hits === 1 && ds.misses === 1, 'disk memo counts');
  sameKeys("memoize(fn, { backend: 'disk' }).stats()", ds, DISK_STATS_KEYS);
  const dropped: number = twice.clear(); // the disk memo's clear() counts what it removed
  check(dropped === 1, `disk clear removed ${dropped}`);
  check(twice.delete(2) === false, 'disk delete');

  const d = new DiskCache<string, { n: number }>({ path: dir, codec: 'json' });
  d.set('k', { n: 1 });
  const dv: { n: number } | undefined = d.get('k');
  check(dv !== undefined && dv.n === 1, 'DiskCache get');
  d.flush();
  sameKeys('DiskCache.stats()', d.stats(), DISK_STATS_KEYS);

  // Freshness on disk, reads that are not use, dispose.
  const plusOne = memoize((x: number) => x + 1, {
    backend: 'disk',
    path: dir,
    ttl: 60_000,
    stale: 1000,
    onRefreshError: (err: unknown) => void err,
  });
  check(plusOne(1) === 2, 'disk memo with stale');
  const fst = plusOne.stats();
  const refreshes: number = 'refreshes' in fst ? fst.refreshes + fst.refreshErrors : -1;
  check(refreshes === 0, `disk memo refreshes ${refreshes}`);
  const told: DisposeReason[] = [];
  const dd = new DiskCache<string, number>({
    path: dir,
    codec: 'json',
    dispose: (_v: unknown, _k: unknown, reason: DisposeReason) => told.push(reason),
  });
  dd.set('p', 1).set('p', 2);
  const pv: number | undefined = dd.peek('p');
  const left: number = dd.getRemainingTTL('p');
  check(pv === 2 && left === Infinity && told.join() === 'replaced', 'peek, TTL, dispose');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

// Cache<K, V> and ByteCache.
const policy: Policy = 'tinylfu';
const c = new Cache<string, number>({ max: 5, policy, sizeOf: (v, k) => v + k.length });
c.set('a', 1).set('b', 2);
const v: number | undefined = c.get('a');
check(v === 1 && c.size === 2, 'Cache');
sameKeys('Cache.stats()', c.stats(), STATS_KEYS);
// Eviction callbacks and reads that are not use (issue 18).
const left: DisposeReason[] = [];
const d = new Cache<string, number>({ max: 1, dispose: (value, key, reason) => left.push(reason) });
d.set('a', 1).set('b', 2);
const peeked: number | undefined = d.peek('b');
const ms: number = d.getRemainingTTL('b');
check(
  peeked === 2 && ms === Infinity && left.join() === 'evicted',
  'dispose, peek, getRemainingTTL',
);
const b = new ByteCache({ maxBytes: 1 << 20 });
b.set('k', Buffer.from('x')).set('s', 'text');
const bv: string | Buffer | undefined = b.get('s');
check(bv === 'text', 'ByteCache');
sameKeys('ByteCache.stats()', b.stats(), STATS_KEYS);

async function main(): Promise<void> {
  const getUser = memoize(async (id: number) => ({ id, name: 'ada' }));
  const [u1, u2] = await Promise.all([getUser(7), getUser(7)]);
  const name: string = u1.name;
  check(u1 === u2 && name === 'ada', 'one promise per key');
  const loaded: number = await c.fetch('z', async () => 3);
  check(loaded === 3 && c.get('z') === 3, 'fetch');

  // The Redis tier, with nothing listening at the URL: every call resolves (L1 only), typed.
  const url = 'redis://127.0.0.1:1/0';
  const rc = new RedisCache<string, { n: number }>({ url, namespace: 'types', timeout: 100 });
  const took: boolean = await rc.set('k', { n: 1 }, { ttl: 1000 });
  const rv: { n: number } | undefined = await rc.get('k');
  check(!took && rv !== undefined && rv.n === 1, 'RedisCache from L1 while Redis is down');
  const many: Map<string, { n: number }> = await rc.getMany(['k', 'absent']);
  check(many.size === 1, 'getMany');
  const rs: RedisStats = rc.stats();
  check(rs.l2_errors >= 1 && typeof rs.breaker === 'string', 'RedisCache stats');
  await rc.close();
  const triple = memoize(async (x: number) => x * 3, { backend: 'redis', url, timeout: 100 });
  const t: number = await triple(2);
  const typed: RedisMemoized<(x: number) => Promise<number>> = triple;
  check(t === 6 && typed.stats().misses === 1, 'redis memo');
  await triple.close();
  const guarded = memoize(async (x: number) => x, {
    backend: 'redis',
    url,
    timeout: 100,
    cacheErrors: (err: unknown) => err instanceof RangeError,
    errorTtl: 1000,
  });
  check((await guarded(4)) === 4, 'redis memo with cacheErrors');
  await guarded.close();
  // Coherent (docs/redis.md, "Coherence"): with Redis down the listener never subscribes.
  const coherent = new RedisCache<string, number>({ url, timeout: 100, coherent: true });
  const subscribed: boolean = await coherent.waitCoherent(50);
  check(!subscribed && coherent.stats().invalidations === 0, 'coherent RedisCache, Redis down');
  await coherent.close();
  // A cluster (seed URLs) and TLS options, type-checked; with nothing listening, L1 only.
  const seeds = ['redis://127.0.0.1:1', 'redis://127.0.0.1:2'];
  const onCluster = new RedisCache<string, number>({ url: seeds, cluster: true, timeout: 100 });
  check(!(await onCluster.set('k', 1)) && (await onCluster.get('k')) === 1, 'cluster, down');
  await onCluster.close();
  const tlsOptions: RedisTlsOptions = { ca: Buffer.from('x'), servername: 'redis.internal' };
  void (() => new RedisCache({ url: 'rediss://127.0.0.1:1', tls: tlsOptions }));
  // @ts-expect-error: cluster is a boolean
  void (() => new RedisCache({ cluster: 'yes' }));
  // @ts-expect-error: tls fields are paths or Buffers
  void (() => new RedisCache({ tls: { ca: 42 } }));
  // @ts-expect-error: codec is 'json' or 'v8'
  void (() => new RedisCache({ codec: 'pickle' }));
  // @ts-expect-error: coherent is a boolean
  void (() => new RedisCache({ coherent: 'yes' }));
}

main().then(
  () => console.log(`commonjs.ts: ok ${native ? 'native' : 'pure'}`),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
