// Compiled (never run) by scripts/test-node: the hand-written node/index.d.ts must describe the
// API as the docs show it, resolved through the package's "exports" like a user's import.
import twincache, { memoize, Cache, ByteCache, DiskCache, native, type Stats } from 'twincache';

const area = memoize((w: number, h: number) => w * h, {
  max: 100,
  ttl: 60_000,
  key: (w, h) => `${w}x${h}`,
});
const a: number = area(3, 4);
const removed: boolean = area.delete(3, 4);
const s: Stats = area.stats();
area.clear();
const size: number = area.cache.size;

const getUser = memoize(async (id: number) => ({ id, name: 'ada' }), { policy: 'lru' });
const user: Promise<{ id: number; name: string }> = getUser(7);

const c = new Cache<string, number>({ max: 5, maxBytes: 1 << 20, sizeOf: (v, k) => v + k.length });
c.set('a', 1, { ttl: 5 }).set('b', 2);
const v: number | undefined = c.get('a');
for (const [k, val] of c) console.log(k.length + val);
const keys: string[] = [...c.keys()];
const loaded: Promise<number> = c.fetch('z', async () => 3);
const pruned: number = c.prune();

const b = new ByteCache({ maxBytes: 1000, ttl: 10 });
b.set('k', Buffer.from('x')).set('s', 'text');
const bv: string | Buffer | undefined = b.get('k');

const d = new DiskCache<string, { n: number }>({ path: '/tmp/x', codec: 'json', ttl: 1000 });
d.set('a', { n: 1 });
const dv: { n: number } | undefined = d.get('a');
const persistent: boolean = d.persistent;
const onDisk = memoize((x: number) => x * 2, { backend: 'disk', path: '/tmp/x' });
const twice: number = onDisk(2);
console.log(dv, persistent, twice);

const isNative: boolean = native && twincache.native;
console.log(a, removed, s.hits + s.evictions, size, user, v, keys, loaded, pruned, bv, isNative);

// @ts-expect-error: ttl is a number of milliseconds
memoize(() => 1, { ttl: '5s' });
// @ts-expect-error: ByteCache values are strings or bytes
b.set('k', { a: 1 });
