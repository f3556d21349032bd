// Shared by the TypeScript sample programs of tests/typecheck/node (each imports it its own way):
// every value the samples read is checked at run time too, and each stats() object must have
// exactly the keys its declared type has (Record<keyof T, true> makes the compiler list them all).
import type { DiskStats, Stats } from 'twincache';

export const STATS_KEYS: Record<keyof Stats, true> = {
  hits: true,
  misses: true,
  inserts: true,
  updates: true,
  rejected: true,
  evictions: true,
  evictedItems: true,
  evictedBytes: true,
  expirations: true,
  deleted: true,
  cleared: true,
  items: true,
  bytes: true,
};

export const DISK_STATS_KEYS: Record<keyof DiskStats, true> = {
  hits: true,
  misses: true,
  l1Hits: true,
  sets: true,
  rejected: true,
  evictions: true,
  expirations: true,
  deleted: true,
  cleared: true,
  corrupt: true,
  writeErrors: true,
  items: true,
  bytes: true,
};

/** Throws unless `actual` has exactly the keys of `declared`, every one a number. */
export function sameKeys(what: string, actual: object, declared: object): void {
  const got = Object.keys(actual).sort().join(',');
  const want = Object.keys(declared).sort().join(',');
  if (got !== want) throw new Error(`${what}: keys at run time ${got}, declared ${want}`);
  for (const [k, v] of Object.entries(actual)) {
    if (typeof v !== 'number') throw new Error(`${what}.${k} is ${typeof v}, declared number`);
  }
}

export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
}
