// A user program of twincache/metrics as an ES module (tsconfig.nodenext.json: the package's
// "exports" subpath and its types, node/metrics.d.ts), compiled with tsc --strict and run, native
// and TWINCACHE_PURE=1, by scripts/test-types.
import { Registry } from 'prom-client';
import { Cache, DiskCache, memoize } from 'twincache';
import metrics, { TwincacheCollector, collector, register, unregister } from 'twincache/metrics';
import type { RegisterOptions, Registrable } from 'twincache/metrics';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { check } from './shared.js';

const registry = new Registry();
const sessions = new Cache<string, number>({ max: 3 });
const area = memoize((w: number, h: number) => w * h);
const name: string = register(sessions, { name: 'sessions', registry });
check(name === 'sessions', 'register returns the name');
register(area, { name: 'area', registry });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-types-metrics-'));
try {
  const options: RegisterOptions = { name: 'disk', registry };
  const disk = new DiskCache({ path: dir });
  register(disk, options);
  const c: TwincacheCollector = collector(registry);
  const names: string[] = c.names();
  check(names.join() === 'area,disk,sessions', `names: ${names.join()}`);
  const cache: Registrable = area;
  const removed: boolean = unregister(cache, { registry });
  check(removed && metrics.register === register, 'unregister; default export');
  // @ts-expect-error: a number is not a cache
  check(typeof (() => register(3, { registry })) === 'function', 'not called');
  // @ts-expect-error: name is a string
  check(typeof (() => register(sessions, { name: 3 })) === 'function', 'not called');
  const text = await registry.metrics();
  check(text.includes('twincache_items{cache="sessions"} 0'), 'scraped');
  void disk;
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log('metrics.mts: ok');
