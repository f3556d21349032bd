// An ES module user program (tsconfig.nodenext.json: module nodenext), compiled with tsc
// --strict and run, native and TWINCACHE_PURE=1, by scripts/test-types. node/index.mjs's
// default export is the CommonJS exports object, which is what TypeScript gives a default import
// of the (CommonJS-format) declarations: the default and the named exports are the same values.
import twincache, { memoize, Cache, ByteCache, DiskCache, native, version } from 'twincache';
import * as namespace from 'twincache';
import type { DiskMemoized, Memoized, Policy, Stats } from 'twincache';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STATS_KEYS, DISK_STATS_KEYS, sameKeys, check } from './shared.js';

const required: typeof twincache = createRequire(import.meta.url)('twincache');
check(twincache === required, 'the default export is the CommonJS exports object');
check(namespace.default === twincache && namespace.memoize === memoize, 'namespace');
check(twincache.memoize === memoize && twincache.DiskCache === DiskCache, 'same values');
check(native === (process.env.TWINCACHE_PURE !== '1') && twincache.native === native, 'native');
check(version === twincache.version, 'version');

// The API as docs/node.md shows it.
const area = memoize((w: number, h: number) => w * h, {
  max: 100,
  ttl: 60_000,
  key: (w, h) => `${w}x${h}`,
});
const a: number = area(3, 4);
check(a === 12 && area(3, 4) === 12, 'area');
const s: Stats = area.stats();
check(s.hits === 1 && s.misses === 1, 'memo stats');
sameKeys('memoize().stats()', s, STATS_KEYS);
const removed: boolean = area.delete(3, 4);
check(removed, 'delete');
const cleared: void = area.clear();
void cleared;

const getUser = memoize(async (id: number) => ({ id, name: 'ada' }), { policy: 'lru' });
const user: { id: number; name: string } = await getUser(7);
check(user.name === 'ada' && (await getUser(7)) === user, 'async memo');

const policy: Policy = 'lru';
const c = new Cache<string, number>({ max: 5, maxBytes: 1 << 20, policy });
c.set('a', 1, { ttl: 5_000 }).set('b', 2);
for (const [k, val] of c) check(typeof k === 'string' && typeof val === 'number', 'entries');
const keys: string[] = [...c.keys()];
check(keys.length === 2, 'keys');
const loaded: number = await c.fetch('z', async () => 3);
check(loaded === 3, 'fetch');
const pruned: number = c.prune();
check(pruned === 0, 'prune');

const b = new ByteCache({ maxBytes: 1000, ttl: 10_000 });
b.set('k', Buffer.from('x')).set('s', 'text');
const bv: string | Buffer | undefined = b.get('k');
check(Buffer.isBuffer(bv) && bv.toString() === 'x', 'ByteCache');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-types-'));
try {
  const d = new DiskCache<string, { n: number }>({ path: dir, codec: 'json', ttl: 60_000 });
  d.set('a', { n: 1 });
  const dv: { n: number } | undefined = d.get('a');
  const persistent: boolean = d.persistent;
  check(dv?.n === 1 && typeof persistent === 'boolean', 'DiskCache');
  sameKeys('DiskCache.stats()', d.stats(), DISK_STATS_KEYS);

  const onDisk = memoize((x: number) => x * 2, { backend: 'disk', path: dir });
  const typed: DiskMemoized<(x: number) => number> = onDisk;
  const twice: number = typed(2);
  check(twice === 4 && onDisk(2) === 4, 'disk memo');
  sameKeys("memoize(fn, { backend: 'disk' }).stats()", onDisk.stats(), DISK_STATS_KEYS);
  const n: number = onDisk.clear();
  check(n === 1, `disk clear removed ${n}`);

  // A backend known only at run time: the union of both memo types.
  const backend = process.argv.includes('--disk') ? ('disk' as const) : ('memory' as const);
  const either = memoize((x: number) => x + 1, { backend, ttl: 60_000 });
  const eitherTyped: Memoized<(x: number) => number> | DiskMemoized<(x: number) => number> = either;
  check(eitherTyped(1) === 2, 'either backend');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

// Mistakes the declarations must reject (tsc fails if one of these compiles). Never called.
function typeErrors(): void {
  // @ts-expect-error: ttl is a number of milliseconds
  memoize(() => 1, { ttl: '5s' });
  // @ts-expect-error: ByteCache values are strings or bytes
  b.set('k', { a: 1 });
  // @ts-expect-error: a disk memo's stats() has no evictedItems (the memory memo's has)
  onDiskStatsShape(memoize((x: number) => x, { backend: 'disk' }).stats().evictedItems);
  // @ts-expect-error: a memory memo's stats() has no l1Hits (the disk memo's has)
  onDiskStatsShape(memoize((x: number) => x).stats().l1Hits);
  // @ts-expect-error: max is a memory option; the disk backend refuses it at run time
  memoize((x: number) => x, { backend: 'disk', max: 10 });
  // @ts-expect-error: backend is 'memory', 'disk' or 'redis'
  memoize((x: number) => x, { backend: 'valkey' });
  // @ts-expect-error: policy is a memory option; the redis backend refuses it at run time
  memoize((x: number) => x, { backend: 'redis', policy: 'lru' });
  // @ts-expect-error: with a backend known at run time, only the options both take
  memoize((x: number) => x, { backend: Math.random() < 2 ? 'memory' : 'disk', path: '/tmp' });
  // @ts-expect-error: policy is 'lru' or 'tinylfu'
  new Cache({ policy: 'lfu' });
  // @ts-expect-error: the arguments are the function's
  area('3', 4);
}
function onDiskStatsShape(_: number): void {}
void typeErrors;

console.log(`esm.mts: ok ${native ? 'native' : 'pure'}`);
