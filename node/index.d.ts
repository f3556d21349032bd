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
  fetch(key: K, loader: (key: K) => V | PromiseLike<V>): Promise<V>;
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

export interface DiskCacheOptions {
  /** The cache directory; default: $TWINCACHE_DIR, else the user cache directory. */
  path?: string;
  maxBytes?: number;
  ttl?: number;
  /** 'json' (readable by Python with codec="json") or 'v8' (v8.serialize; Node only). */
  codec?: 'json' | 'v8';
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
}

/** What memoize(fn) returns (backend 'memory'): fn itself, typed as it is, plus the helpers. */
export type Memoized<F extends (...args: any[]) => any> = F & {
  readonly cache: Cache<unknown, ReturnType<F>>;
  /** Removes every entry; counters are kept. */
  clear(): void;
  /** Removes the entry of these arguments; whether it was there. */
  delete(...args: Parameters<F>): boolean;
  stats(): Stats;
};

export interface DiskMemoizeOptions<A extends unknown[]> extends DiskCacheOptions {
  backend: 'disk';
  key?: (...args: A) => unknown;
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
  /** This function's hits and misses; the other counters are its DiskCache's. */
  stats(): DiskStats;
};

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
