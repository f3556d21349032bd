// Type declarations for twincache/metrics (hand-written; they describe node/lib/metrics.js and
// node/metrics.mjs): twincache's caches exposed to prom-client under the names of
// docs/metrics.md. prom-client is an optional peer dependency of twincache.
import type { Registry, RegistryContentType } from 'prom-client';

/** What register() takes: a Cache, DiskCache, RedisCache or memoized function (any backend);
 * told apart at run time by the keys of its stats(). */
export interface Registrable {
  stats(): object;
}

export interface RegisterOptions {
  /** The `cache` label; default: a memoized function's name (a cache object needs one). */
  name?: string;
  /** Default: prom-client's default registry (`require('prom-client').register`). */
  registry?: Registry<RegistryContentType>;
}

/** The metrics of docs/metrics.md in one registry, read from the added caches at each scrape.
 * One per registry (a second throws: the names are taken); register() makes it on first use. */
export class TwincacheCollector {
  constructor(options?: { registry?: Registry<RegistryContentType> });
  /** Exposes `cache` under the label cache=`name`; returns the name. A name or a cache already
   * registered throws TypeError (code ERR_TWINCACHE_BAD_OPTION). */
  add(cache: Registrable, name?: string): string;
  /** Stops exposing a cache (the object or its name); false if it was not there. */
  remove(cache: Registrable | string): boolean;
  /** The names of the live caches exposed, sorted. */
  names(): string[];
}

/** The collector register() uses for `registry` (made on first use). */
export function collector(registry?: Registry<RegistryContentType>): TwincacheCollector;
/** Exposes `cache` in options.registry under the label cache=options.name; returns the name. */
export function register(cache: Registrable, options?: RegisterOptions): string;
/** Stops exposing a cache (the object or its name); false if it was not registered. */
export function unregister(
  cache: Registrable | string,
  options?: { registry?: Registry<RegistryContentType> },
): boolean;
