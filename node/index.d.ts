// Type declarations for twincache (hand-written; they describe node/lib/index.js and
// node/index.mjs). The CommonJS entry has exactly the value exports declared here and no
// `default`; the ES module entry has the same named exports, and its default export is the
// CommonJS exports object, which is what TypeScript gives a default import of a CommonJS module
// (so no `export default` is declared). tests/typecheck/node checks both entries against this
// file, at compile time (tsc --strict, module commonjs and nodenext) and at run time.

/** Eviction policy: 'lru' is exact least-recently-used; 'tinylfu' is the core's scan-resistant
 * adaptive W-TinyLFU. Omitted or '': the core's default (pure JavaScript runs exact LRU). */
export type Policy = 'lru' | 'tinylfu' | '';

export interface Stats {
  hits: number;
  misses: number;
  /** Sets of an absent key. */
  inserts: number;
  /** Sets of a live key (value replaced in place). */
  updates: number;
  /** Entries refused because they weigh more than maxBytes. */
  rejected: number;
  /** evictedItems + evictedBytes. */
  evictions: number;
  /** Evicted to stay within `max`. */
  evictedItems: number;
  /** Evicted to stay within `maxBytes`. */
  evictedBytes: number;
  /** Entries whose TTL passed (found on access or by prune()). */
  expirations: number;
  /** delete() of a live key (and rejected promises in memoize). */
  deleted: number;
  /** Entries removed by clear(). */
  cleared: number;
  /** Entries stored now (expired ones not yet reclaimed included). */
  items: number;
  /** Sum of entry weights: key + value + 64 bytes per entry. */
  bytes: number;
}

/** Why an entry left the cache, as dispose is told (docs/node.md, "Eviction callbacks"). */
export type DisposeReason = 'evicted' | 'expired' | 'deleted' | 'replaced' | 'cleared';

/** stats() of a memoized function with freshness options (stale, earlyRefresh, ttlJitter,
 * cacheErrors): Stats plus these counters. */
export interface FreshStats extends Stats {
  /** Background refreshes stored, and failed. */
  refreshes: number;
  refreshErrors: number;
  /** Refreshes started early by the XFetch rule (earlyRefresh). */
  earlyRefreshes: number;
  /** Hits on a cached failure (cacheErrors). */
  errorHits: number;
}

export interface CacheOptions<K = unknown, V = unknown> {
  /** Most entries kept; an integer >= 1 or Infinity (default). */
  max?: number;
  /** Default time to live in milliseconds (> 0); default: entries never expire. */
  ttl?: number;
  /** Budget for the sum of entry weights; an integer >= 1 or Infinity (default). */
  maxBytes?: number;
  /** Weight of a value in bytes, in [0, 2^53 - 1], a fraction rounded up; default: strings by
   * length, binary data by byteLength, else 8. */
  sizeOf?: (value: V, key: K) => number;
  policy?: Policy;
  /** Called once per entry that leaves, after the call that removed it has left the cache
   * consistent (it may use the cache); an exception becomes a process warning. */
  dispose?: (value: V, key: K, reason: DisposeReason) => void;
}

export interface SetOptions {
  /** This entry's time to live in milliseconds (> 0), overriding the cache's. */
  ttl?: number;
}

export class Cache<K = unknown, V = unknown> implements Iterable<[K, V]> {
  constructor(options?: CacheOptions<K, V>);
  get(key: K): V | undefined;
  /** Throws RangeError (code ERR_TWINCACHE_VALUE_TOO_LARGE) when the entry alone weighs more
   * than maxBytes; the cache is then unchanged. */
  set(key: K, value: V, options?: SetOptions): this;
  has(key: K): boolean;
  /** The live value; no hit or miss counted, no recency or frequency update. */
  peek(key: K): V | undefined;
  /** Milliseconds left: Infinity without a TTL, 0 when absent or expired. */
  getRemainingTTL(key: K): number;
  delete(key: K): boolean;
  /** Removes every entry; counters are kept (see resetStats()). */
  clear(): void;
  /** Entries stored (expired ones not yet reclaimed included; see prune()). */
  readonly size: number;
  stats(): Stats;
  resetStats(): void;
  /** Reclaims expired entries now; returns how many. */
  prune(): number;
  /** Live keys, each once: most recently used first under policy 'lru', in no particular order
   * under the default policy. */
  keys(): IterableIterator<K>;
  values(): IterableIterator<V>;
  entries(): IterableIterator<[K, V]>;
  [Symbol.iterator](): IterableIterator<[K, V]>;
  /** Get-or-load: one loader call per key at a time; resolved values are stored, rejections
   * are not, nor a result whose key was set, deleted or cleared meanwhile. */
  fetch(
    key: K,
    loader: (key: K, options: { signal?: AbortSignal }) => V | PromiseLike<V>,
    options?: FetchOptions,
  ): Promise<V>;
}

/** Cache.fetch options, as lru-cache names them. */
export interface FetchOptions {
  /** Aborting rejects this fetch with signal.reason; the loader it starts receives it. */
  signal?: AbortSignal;
  /** Load even when a live value is cached. */
  forceRefresh?: boolean;
  /** With forceRefresh: resolve with the cached value at once while the load runs. */
  allowStale?: boolean;
}

export interface ByteCacheOptions {
  max?: number;
  ttl?: number;
  maxBytes?: number;
  policy?: Policy;
}

/** Byte mode: string keys, string or binary values. With the native addon, keys and values live
 * in the C++ core outside the V8 heap (no load on the garbage collector); every call crosses
 * into C++. Binary values come back as fresh Buffers. */
export class ByteCache implements Iterable<[string, string | Buffer]> {
  constructor(options?: ByteCacheOptions);
  get(key: string): string | Buffer | undefined;
  set(key: string, value: string | Uint8Array, options?: SetOptions): this;
  has(key: string): boolean;
  delete(key: string): boolean;
  clear(): void;
  readonly size: number;
  stats(): Stats;
  resetStats(): void;
  prune(): number;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string | Buffer>;
  entries(): IterableIterator<[string, string | Buffer]>;
  [Symbol.iterator](): IterableIterator<[string, string | Buffer]>;
  fetch(
    key: string,
    loader: (key: string) => string | Uint8Array | PromiseLike<string | Uint8Array>,
  ): Promise<string | Buffer>;
}

/** DiskCache's stats() and a disk memo's: this process's counters; `items` and `bytes` are the
 * directory's. */
export interface DiskStats {
  hits: number;
  misses: number;
  /** Hits served by the memory tier in front of the directory. */
  l1Hits: number;
  sets: number;
  rejected: number;
  evictions: number;
  expirations: number;
  deleted: number;
  cleared: number;
  /** Entries found damaged (failed their checksum) and dropped. */
  corrupt: number;
  /** Write batches that could not be committed. */
  writeErrors: number;
  items: number;
  bytes: number;
}

/** stats() of a disk memo with freshness options: DiskStats plus FreshStats' counters. */
export interface DiskFreshStats extends DiskStats {
  refreshes: number;
  refreshErrors: number;
  earlyRefreshes: number;
  errorHits: number;
}

export interface DiskCacheOptions {
  /** The cache directory; default: $TWINCACHE_DIR, else the user cache directory. */
  path?: string;
  maxBytes?: number;
  ttl?: number;
  /** 'json' (readable by Python with codec="json") or 'v8' (v8.serialize; Node only). */
  codec?: 'json' | 'v8';
  /** Told of each entry this DiskCache removes or replaces (docs/persistence.md, "Eviction
   * callbacks on disk"): key as given (decoded from the directory for prune and clear). */
  dispose?: (value: unknown, key: unknown, reason: DisposeReason) => void;
}

/** DiskCache.set's options: a TTL, and tags and metadata for query() and evict(). */
export interface DiskSetOptions extends SetOptions {
  tags?: string[];
  meta?: Record<string, unknown>;
}

/** One entry as DiskCache.query() lists it (times in ms since the epoch, or null). */
export interface DiskEntryListing<K = unknown> {
  key: K;
  size: number;
  created: number | null;
  expires: number | null;
  tags: string[];
  meta: Record<string, unknown>;
}

/** The persistent tier (docs/persistence.md): the Cache API over a SQLite cache directory shared
 * by processes and languages. Synchronous. Memory-only, with one warning, where the disk addon
 * or the directory cannot be used (`persistent` is then false). */
export class DiskCache<K = unknown, V = unknown> implements Iterable<[K, V]> {
  constructor(options?: DiskCacheOptions);
  readonly path: string;
  readonly persistent: boolean;
  get(key: K): V | undefined;
  /** The value without counting a hit or miss and without refreshing its recency. */
  peek(key: K): V | undefined;
  /** Milliseconds left: 0 when absent or expired, Infinity without a TTL. */
  getRemainingTTL(key: K): number;
  /** With tags or meta: the value, its tags and meta commit in one transaction before set()
   * returns; if it rolls back, throws (code ERR_TWINCACHE_IO_ERROR) and the old entry stays. */
  set(key: K, value: V, options?: DiskSetOptions): this;
  has(key: K): boolean;
  delete(key: K): boolean;
  clear(): void;
  prune(): number;
  /** The live entries (with `tag`; whose meta has the fields of `where`), values not loaded. */
  query(options?: { tag?: string; where?: Record<string, unknown> }): DiskEntryListing<K>[];
  /** Removes every entry tagged `tag` in one transaction; returns how many. */
  evict(tag: string): number;
  /** Waits until every write so far is committed (writes are committed in the background). */
  flush(): void;
  readonly size: number;
  keys(): IterableIterator<K>;
  entries(): IterableIterator<[K, V]>;
  [Symbol.iterator](): IterableIterator<[K, V]>;
  stats(): DiskStats;
  info(): unknown;
  fetch(key: K, loader: (key: K) => V | PromiseLike<V>): Promise<V>;
}

export interface MemoizeOptions<A extends unknown[]> {
  /** 'memory' (default) or 'disk' (see DiskMemoizeOptions). */
  backend?: 'memory';
  max?: number;
  /** Time to live of a result in milliseconds (> 0). */
  ttl?: number;
  maxBytes?: number;
  /** Replaces the argument key: its result must be a string or a number. */
  key?: (...args: A) => string | number;
  policy?: Policy;
  /** As Cache's; key is the key option's result, undefined without that option. */
  dispose?: (value: unknown, key: string | number | undefined, reason: DisposeReason) => void;
  /** Stale-while-revalidate: ms after ttl during which the old result is returned at once while
   * one refresh runs in the background. Needs ttl. */
  stale?: number;
  /** Each result's ttl is shortened by up to this fraction, at random: [0, 1). Needs ttl. */
  ttlJitter?: number;
  /** Early refresh (XFetch) with this beta (> 0; 1 is usual). Needs ttl. */
  earlyRefresh?: number;
  /** Negative caching: a thrown error (or rejection) for which this returns true is thrown
   * (rejected) again to every caller for errorTtl ms (default ttl). */
  cacheErrors?: (err: unknown) => boolean;
  errorTtl?: number;
  /** Told of each failed background refresh (else process.emitWarning). */
  onRefreshError?: (err: unknown) => void;
}

/** What memoize(fn) returns (backend 'memory'): fn itself, typed as it is, plus the helpers. */
export type Memoized<F extends (...args: any[]) => any> = F & {
  readonly cache: Cache<unknown, ReturnType<F>>;
  /** Removes every entry; counters are kept. */
  clear(): void;
  /** Removes the entry of these arguments; whether it was there. */
  delete(...args: Parameters<F>): boolean;
  /** FreshStats when freshness options are set. */
  stats(): Stats | FreshStats;
};

export interface DiskMemoizeOptions<A extends unknown[]> extends Omit<DiskCacheOptions, 'dispose'> {
  backend: 'disk';
  key?: (...args: A) => unknown;
  /** The freshness options, as MemoizeOptions' (docs/persistence.md, "Freshness on disk"). */
  stale?: number;
  ttlJitter?: number;
  earlyRefresh?: number;
  cacheErrors?: (err: unknown) => boolean;
  errorTtl?: number;
  onRefreshError?: (err: unknown) => void;
}

/** Options for a backend chosen at run time: those that 'memory' and 'disk' both take. */
export interface AnyBackendMemoizeOptions<A extends unknown[]> {
  backend: 'memory' | 'disk';
  ttl?: number;
  maxBytes?: number;
  key?: (...args: A) => string | number;
}

/** What memoize(fn, { backend: 'disk' }) returns: fn itself, its results kept in a cache
 * directory (docs/persistence.md), plus the helpers. */
export type DiskMemoized<F extends (...args: any[]) => any> = F & {
  /** The directory's DiskCache (its entries are this function's and others'). */
  readonly cache: DiskCache;
  /** Removes this function's entries (only them: the directory is shared); returns how many. */
  clear(): number;
  /** Removes the entry of these arguments; whether it was there. */
  delete(...args: Parameters<F>): boolean;
  /** This function's hits and misses; the other counters are its DiskCache's. DiskFreshStats
   * when freshness options are set. */
  stats(): DiskStats | DiskFreshStats;
};

/** RedisCache's stats() and a Redis memo's (docs/redis.md, "Stats"); the names are the spec's,
 * shared with Python. */
export interface RedisStats {
  /** Reads answered with a value / without one (after L1 and L2). */
  hits: number;
  misses: number;
  l1_hits: number;
  l1_misses: number;
  l1_items: number;
  l1_bytes: number;
  /** L2 reads that found a valid value / no entry (or another key's). */
  l2_hits: number;
  l2_misses: number;
  /** L2 entries refused: MAC or format / codec, compression, later version. */
  l2_corrupt: number;
  l2_unreadable: number;
  /** L2 calls that failed; of them, timeouts. */
  l2_errors: number;
  l2_timeouts: number;
  /** L2 calls not sent because the breaker was open. */
  l2_skipped: number;
  /** Writes asked for / that reached Redis; deletes asked for. */
  sets: number;
  l2_sets: number;
  deletes: number;
  /** Names and envelopes sent, envelopes received (not protocol overhead). */
  bytes_sent: number;
  bytes_received: number;
  breaker: 'closed' | 'open' | 'half-open';
  /** Times the breaker opened; times it closed again after opening. */
  breaker_opened: number;
  reconnects: number;
  /** Coherent caches: L1 entries dropped by an invalidation message; times L1 was emptied
   * (a flush message, a lost or renewed subscription). 0 otherwise. */
  invalidations: number;
  l1_flushes: number;
  /** 'on', 'off' (coherent: false), or 'off: <why>' where coherence cannot apply (a client
   * passed in that is not node-redis's). */
  coherence: string;
}

/** TLS for rediss:// URLs (docs/redis.md, "Use (Node)"): each PEM a file path (read when the
 * cache is made) or its content as a Buffer; cert and key together (a client certificate). */
export interface RedisTlsOptions {
  /** The CA(s) that signed the server's certificate (default: Node's root CAs). */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name checked against the server's certificate (default: the URL's host). */
  servername?: string;
  /** false skips verifying the server's certificate (default true; tests only). */
  rejectUnauthorized?: boolean;
}

export interface RedisCacheOptions {
  /** redis://[user:password@]host:port/db, rediss:// (TLS) or unix://path; default
   * redis://127.0.0.1:6379/0. With cluster: true, one seed URL or several (an array). Not with
   * `client`. */
  url?: string | readonly string[];
  /** Your own node-redis client (createClient(), or createCluster() for a cluster) instead of
   * url; close() leaves it open. */
  client?: object;
  /** The server is a Redis Cluster (url: its seed(s)); implied by a createCluster() client. */
  cluster?: boolean;
  /** TLS options for rediss:// URLs: { ca, cert, key } (paths or Buffers). */
  tls?: RedisTlsOptions;
  /** The prefix of every entry name: 1 to 64 characters from A-Z a-z 0-9 _ . - (default
   * 'twincache'). */
  namespace?: string;
  /** Default time to live in milliseconds (> 0); default: no expiry. */
  ttl?: number;
  /** 'json' (default; cross-language) or 'v8' (Node only; needs a secret). Buffers travel raw. */
  codec?: 'json' | 'v8';
  /** The HMAC key (a string or bytes, at least 16 bytes); default $TWINCACHE_SECRET. */
  secret?: string | Uint8Array;
  /** L1's budget: items (default 10000) and bytes (payload sizes; default no limit). */
  l1?: { max?: number; maxBytes?: number };
  /** Milliseconds in (0, 3600000], default 250: the longest any round trip of a call takes. */
  timeout?: number;
  /** Consecutive failures that open the circuit breaker (default 5). */
  breakerThreshold?: number;
  /** [min, max] probe delay of the breaker in milliseconds (default [100, 10000]). */
  breakerDelay?: [number, number];
  /** A fraction in [0, 1): each write's TTL is shortened by up to that fraction, at random. */
  ttlJitter?: number;
  /** Keep L1 coherent through Redis's invalidation messages (docs/redis.md, "Coherence"): a
   * write or delete of an entry by any process or program removes it from this L1. On by
   * default (off, with the reason in stats().coherence, for a client passed in that is not
   * node-redis's); false turns it off; true requires it (a TypeError where it cannot be). */
  coherent?: boolean;
}

/** The Redis tier (docs/redis.md): the package's memory Cache as L1 in front of Redis or Valkey,
 * shared by processes, machines and Python (codec 'json'). Every call resolves within its
 * timeout; while Redis is unreachable it serves L1 (reads miss, writes stay in L1). Needs
 * node-redis 5 or newer (npm install redis). */
export class RedisCache<K = unknown, V = unknown> {
  constructor(options?: RedisCacheOptions);
  readonly namespace: string;
  get(key: K): Promise<V | undefined>;
  /** Resolves to whether Redis took it (false: L1 only). */
  set(key: K, value: V, options?: SetOptions): Promise<boolean>;
  has(key: K): Promise<boolean>;
  /** Removes the key from L1 and Redis; whether either had it. */
  delete(key: K): Promise<boolean>;
  /** The keys found: L1 first, then one round trip for the rest. */
  getMany(keys: Iterable<K>): Promise<Map<K, V>>;
  /** One pipelined round trip; resolves to whether Redis took them. */
  setMany(
    entries: Map<K, V> | Iterable<readonly [K, V]> | Record<string, V>,
    options?: SetOptions,
  ): Promise<boolean>;
  /** Removes this namespace's entries (SCAN + UNLINK) and empties L1; how many Redis entries
   * went, or -1 when Redis could not be reached. */
  clear(): Promise<number>;
  /** Get-or-load: the value, or loader(key) computed once across this process's concurrent
   * fetches and, through a lease in Redis, across processes (docs/redis.md, "Single flight
   * across processes"); stored with ttl (ms). lease: ms, default 10000. */
  fetch(
    key: K,
    loader: (key: K) => V | Promise<V>,
    options?: { ttl?: number; lease?: number },
  ): Promise<V>;
  stats(): RedisStats;
  /** Whether the invalidation listener has subscribed this cache's namespace, waiting up to
   * `ms`; until it does, a coherent cache keeps L1 entries 1 s at most. False when not
   * coherent. */
  waitCoherent(ms: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface RedisMemoizeOptions<A extends unknown[]> extends Omit<RedisCacheOptions, 'l1'> {
  backend: 'redis';
  /** Replaces the argument key (any value the key encoding takes). */
  key?: (...args: A) => unknown;
  /** L1's budget (items, default 10000; bytes). */
  max?: number;
  maxBytes?: number;
  /** Negative caching: a rejection for which this returns true is stored (in L1 and Redis, for
   * errorTtl ms, default ttl) and every call while it lives rejects with a new Error of the same
   * name, message and code. */
  cacheErrors?: (err: unknown) => boolean;
  errorTtl?: number;
  /** Stale-while-revalidate (ms, needs ttl): entries live ttl + stale in Redis; past ttl (by the
   * entry's PTTL) a call resolves to the old value and one refresh per key runs in the
   * background (docs/redis.md, "Freshness"). */
  stale?: number;
  /** Early refresh before expiry by the XFetch rule, with this beta (> 0; needs ttl). */
  earlyRefresh?: number;
  /** Told of each failed background refresh (the stale value stays until its window ends). */
  onRefreshError?: (err: unknown) => void;
  /** One computation of a cold key across processes, through a lease in Redis (docs/redis.md,
   * "Single flight across processes"); lease in ms (default 10000). */
  singleFlight?: boolean;
  lease?: number;
}

/** stats() of a function memoized in Redis with stale or earlyRefresh: RedisStats plus these. */
export interface RedisFreshStats extends RedisStats {
  /** Background refreshes stored, and failed. */
  refreshes: number;
  refreshErrors: number;
  /** Refreshes started early by the XFetch rule (earlyRefresh). */
  earlyRefreshes: number;
}

/** What memoize(fn, { backend: 'redis' }) returns: an async function over fn, its results kept in
 * Redis under the function's scope (docs/redis.md), plus the helpers. */
export type RedisMemoized<F extends (...args: any[]) => any> = ((
  ...args: Parameters<F>
) => Promise<Awaited<ReturnType<F>>>) & {
  readonly cache: RedisCache;
  /** Removes this function's entries (every version of its source) and empties L1. */
  clear(): Promise<number>;
  /** Removes the entry of these arguments (Redis and L1); whether either had it. */
  delete(...args: Parameters<F>): Promise<boolean>;
  invalidate(...args: Parameters<F>): Promise<boolean>;
  /** This function's hits and misses (per call); the other counters are its RedisCache's (and,
   * with stale or earlyRefresh, those of RedisFreshStats). */
  stats(): RedisStats | RedisFreshStats;
  close(): Promise<void>;
};

/** Memoizes fn in Redis: options.backend is 'redis'. */
export function memoize<F extends (...args: any[]) => any>(
  fn: F,
  options: RedisMemoizeOptions<Parameters<F>>,
): RedisMemoized<F>;
/** Memoizes fn on disk: options.backend is 'disk'. */
export function memoize<F extends (...args: any[]) => any>(
  fn: F,
  options: DiskMemoizeOptions<Parameters<F>>,
): DiskMemoized<F>;
/** Memoizes fn in memory (the default backend). */
export function memoize<F extends (...args: any[]) => any>(
  fn: F,
  options?: MemoizeOptions<Parameters<F>>,
): Memoized<F>;
/** A backend known only at run time: the options both backends take. */
export function memoize<F extends (...args: any[]) => any>(
  fn: F,
  options: AnyBackendMemoizeOptions<Parameters<F>>,
): Memoized<F> | DiskMemoized<F>;

/** True when the C++ core (the prebuilt addon) is in use, false in pure JavaScript. */
export const native: boolean;

/** The package's version (its package.json `version`, as pyproject.toml and CMake read it). */
export const version: string;

/** @internal Test hooks (an injected clock); not part of the API. */
export const _testing: {
  useManualClock(startMs?: number): void;
  advance(ms: number): void;
  useRealClock(): void;
};
