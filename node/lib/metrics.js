'use strict';
// twincache/metrics: every twincache cache exposed to prom-client, under the names, types and
// labels of docs/metrics.md (the same as twincache-server's and the Python package's).
//
//   const metrics = require('twincache/metrics');
//   metrics.register(fetchUser, { name: 'fetchUser' });   // a memoized function
//   metrics.register(sessions, { name: 'sessions' });     // a Cache, DiskCache or RedisCache
//
// register() adds the cache to one TwincacheCollector per prom-client Registry (made on first
// use, its metrics registered there). Nothing is counted twice: each scrape reads the caches' own
// stats() (and their limits, fixed at construction), once per scrape whatever the number of
// metrics. The collector holds weak references: a registered cache can still be garbage
// collected, and then its samples and its name go. Caches are told apart by their stats() keys
// (docs/python.md, docs/node.md, docs/redis.md; snake_case or camelCase), so any object with the
// stats() of a RedisCache is read as one.
//
// prom-client is an optional peer dependency (`npm install prom-client`): requiring twincache
// never loads it, only requiring twincache/metrics does.

const { makeError, typeError } = require('./errors');

let prom;
try {
  prom = require('prom-client');
} catch (err) {
  if (err === null || typeof err !== 'object' || err.code !== 'MODULE_NOT_FOUND') throw err;
  const missing = new Error('twincache/metrics needs prom-client: npm install prom-client', {
    cause: err,
  });
  missing.code = 'MODULE_NOT_FOUND';
  throw missing;
}

// A registration that would merge two caches, or expose a name twice (docs/metrics.md).
function badOption(message) {
  const err = new TypeError(message);
  err.code = 'ERR_TWINCACHE_BAD_OPTION';
  return err;
}

// [name, type, help, extra label]: the order of the exposition.
const FAMILIES = [
  ['twincache_hits_total', 'counter', 'Lookups that returned a value.'],
  ['twincache_misses_total', 'counter', 'Lookups that found nothing live.'],
  ['twincache_sets_total', 'counter', 'Values stored.'],
  ['twincache_rejected_total', 'counter', 'Sets refused by a size limit.'],
  ['twincache_deletes_total', 'counter', 'Explicit deletions.'],
  ['twincache_evictions_total', 'counter', 'Removals to stay within a limit, by reason.', 'reason'],
  ['twincache_expirations_total', 'counter', 'Removals because the TTL passed.'],
  ['twincache_cleared_total', 'counter', 'Entries removed by clear().'],
  ['twincache_corrupt_total', 'counter', 'Disk entries refused by their HMAC or format.'],
  ['twincache_l2_hits_total', 'counter', 'Redis reads that found a valid value.'],
  ['twincache_l2_misses_total', 'counter', 'Redis reads that found no entry.'],
  ['twincache_l2_errors_total', 'counter', 'Redis calls or entries that failed, by kind.', 'kind'],
  ['twincache_l2_skipped_total', 'counter', 'Redis calls not sent while the breaker was open.'],
  ['twincache_items', 'gauge', 'Live entries now.'],
  ['twincache_bytes', 'gauge', 'Weight of the live entries in bytes.'],
  ['twincache_max_items', 'gauge', 'The item limit (no sample when unlimited).'],
  ['twincache_max_bytes', 'gauge', 'The byte limit (no sample when unlimited).'],
  ['twincache_breaker_open', 'gauge', '1 while the Redis circuit breaker is not closed.'],
];

// A stats() value by its snake_case name, or its camelCase twin (l2_hits, l2Hits).
function pick(s, key) {
  if (key in s) return s[key];
  const camel = key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
  return s[camel];
}

// Which table of docs/metrics.md applies, told by the stats() keys.
function kindOf(s) {
  if (s === null || typeof s !== 'object') return '';
  if (pick(s, 'l2_hits') !== undefined) return 'redis';
  if ('corrupt' in s && 'sets' in s) return 'disk';
  if ('inserts' in s) return 'memory';
  return '';
}

// A sample: [family, extra label value or undefined, value].
function memorySamples(s, out) {
  out.push(['twincache_hits_total', undefined, s.hits]);
  out.push(['twincache_misses_total', undefined, s.misses]);
  out.push(['twincache_sets_total', undefined, s.inserts + s.updates]);
  out.push(['twincache_rejected_total', undefined, s.rejected]);
  out.push(['twincache_deletes_total', undefined, s.deleted]);
  out.push(['twincache_evictions_total', 'max_items', pick(s, 'evicted_items')]);
  out.push(['twincache_evictions_total', 'max_bytes', pick(s, 'evicted_bytes')]);
  out.push(['twincache_expirations_total', undefined, s.expirations]);
  out.push(['twincache_cleared_total', undefined, s.cleared]);
  out.push(['twincache_items', undefined, s.items]);
  out.push(['twincache_bytes', undefined, s.bytes]);
}

// A disk cache has a byte limit only: its evictions are all reason="max_bytes".
function diskSamples(s, out) {
  out.push(['twincache_hits_total', undefined, s.hits]);
  out.push(['twincache_misses_total', undefined, s.misses]);
  out.push(['twincache_sets_total', undefined, s.sets]);
  out.push(['twincache_rejected_total', undefined, s.rejected]);
  out.push(['twincache_deletes_total', undefined, s.deleted]);
  out.push(['twincache_evictions_total', 'max_bytes', s.evictions]);
  out.push(['twincache_expirations_total', undefined, s.expirations]);
  out.push(['twincache_cleared_total', undefined, s.cleared]);
  out.push(['twincache_corrupt_total', undefined, s.corrupt]);
  out.push(['twincache_items', undefined, s.items]);
  out.push(['twincache_bytes', undefined, s.bytes]);
}

// A Redis cache: its L1 in the first table (l1_* keys; L1's own stats() for the rest when the
// object exposes its L1), then the Redis tier.
function redisSamples(s, l1, out) {
  out.push(['twincache_hits_total', undefined, pick(s, 'l1_hits')]);
  out.push(['twincache_misses_total', undefined, pick(s, 'l1_misses')]);
  out.push(['twincache_sets_total', undefined, s.sets]);
  out.push(['twincache_deletes_total', undefined, s.deletes]);
  if (l1 !== undefined) {
    out.push(['twincache_rejected_total', undefined, l1.rejected]);
    out.push(['twincache_evictions_total', 'max_items', pick(l1, 'evicted_items')]);
    out.push(['twincache_evictions_total', 'max_bytes', pick(l1, 'evicted_bytes')]);
    out.push(['twincache_expirations_total', undefined, l1.expirations]);
    out.push(['twincache_cleared_total', undefined, l1.cleared]);
  }
  out.push(['twincache_items', undefined, pick(s, 'l1_items')]);
  out.push(['twincache_bytes', undefined, pick(s, 'l1_bytes')]);
  out.push(['twincache_l2_hits_total', undefined, pick(s, 'l2_hits')]);
  out.push(['twincache_l2_misses_total', undefined, pick(s, 'l2_misses')]);
  const timeouts = pick(s, 'l2_timeouts');
  out.push(['twincache_l2_errors_total', 'timeout', timeouts]);
  out.push(['twincache_l2_errors_total', 'error', pick(s, 'l2_errors') - timeouts]);
  out.push(['twincache_l2_errors_total', 'corrupt', pick(s, 'l2_corrupt')]);
  out.push(['twincache_l2_errors_total', 'unreadable', pick(s, 'l2_unreadable')]);
  out.push(['twincache_l2_skipped_total', undefined, pick(s, 'l2_skipped')]);
  out.push(['twincache_breaker_open', undefined, s.breaker === 'closed' ? 0 : 1]);
}

// The object that holds the limits: a memoized function's cache (`fn.cache`); a Redis cache's
// L1 (`l1` or `_l1`, where it has one).
function ownerOf(cache) {
  return typeof cache === 'function' && cache.cache !== undefined ? cache.cache : cache;
}

function l1Of(cache) {
  const owner = ownerOf(cache);
  const l1 = owner.l1 !== undefined ? owner.l1 : owner._l1;
  return l1 !== null && typeof l1 === 'object' ? l1 : undefined;
}

function limit(...candidates) {
  for (const v of candidates) {
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  }
  return undefined;
}

// [maxItems, maxBytes] (undefined: unlimited or unknown). A public `max`/`maxBytes` wins over the
// implementation's fields (the memory Cache keeps them as _max/_maxBytes, Infinity = none).
function limitsOf(cache, kind) {
  const target = kind === 'redis' ? l1Of(cache) : ownerOf(cache);
  if (target === undefined) return [undefined, undefined];
  const maxBytes = limit(target.maxBytes, target._maxBytes);
  return [kind === 'disk' ? undefined : limit(target.max, target._max), maxBytes];
}

// A memoized function's name: the function's `name` (memoize()'s wrapper carries it), or
// 'anonymous'.
function defaultName(cache) {
  if (typeof cache !== 'function') return undefined;
  return cache.name || 'anonymous';
}

class TwincacheCollector {
  // Makes the metrics in `registry` (prom-client's default registry unless given). One collector
  // per registry: a second would register the same names, which the registry refuses.
  constructor(options) {
    const registry = registryOption(options);
    for (const [name] of FAMILIES) {
      if (registry.getSingleMetric(name) !== undefined) {
        throw badOption(
          `a metric named ${name} is already registered in this registry ` +
            '(one TwincacheCollector per registry: use metrics.collector(registry))',
        );
      }
    }
    this._entries = new Map(); // name -> { ref, kind, maxItems, maxBytes }
    this._scrape = null; // the samples of the scrape under way, by family
    const collector = this;
    this._metrics = FAMILIES.map(([name, type, help, extra]) => {
      const Metric = type === 'counter' ? prom.Counter : prom.Gauge;
      return new Metric({
        name,
        help,
        labelNames: extra === undefined ? ['cache'] : ['cache', extra],
        registers: [registry],
        collect() {
          collector._fill(this, name, extra);
        },
      });
    });
  }

  // Exposes `cache` (a Cache, DiskCache, RedisCache or memoized function, any backend) with the
  // label cache=`name`; returns the name. A name taken by a live cache, or a cache already
  // added, is a TypeError with code ERR_TWINCACHE_BAD_OPTION.
  add(cache, name) {
    const stats = cache !== null && cache !== undefined ? cache.stats : undefined;
    const kind = typeof stats === 'function' ? kindOf(stats.call(cache)) : '';
    if (kind === '') {
      throw typeError(
        'cache',
        'a twincache Cache, DiskCache, RedisCache or memoized function',
        cache,
      );
    }
    if (name === undefined) {
      name = defaultName(cache);
      if (name === undefined) {
        throw makeError(
          'invalid_argument',
          `name is required for a ${cache.constructor ? cache.constructor.name : 'cache'} ` +
            'object (only a memoized function has a default name)',
        );
      }
    } else if (typeof name !== 'string') {
      throw typeError('name', 'a non-empty string or undefined', name);
    } else if (name === '') {
      throw makeError('out_of_range', "name must be a non-empty string or undefined (got '')");
    }
    this._prune();
    if (this._entries.has(name)) {
      throw badOption(`a cache named '${name}' is already registered`);
    }
    for (const [other, entry] of this._entries) {
      if (entry.ref.deref() === cache) {
        throw badOption(`this cache is already registered as '${other}'`);
      }
    }
    const [maxItems, maxBytes] = limitsOf(cache, kind);
    this._entries.set(name, { ref: new WeakRef(cache), kind, maxItems, maxBytes });
    return name;
  }

  // Stops exposing a cache, given as the object or its name; false if it was not there.
  remove(cache) {
    this._prune();
    for (const [name, entry] of this._entries) {
      if (typeof cache === 'string' ? name === cache : entry.ref.deref() === cache) {
        this._entries.delete(name);
        return true;
      }
    }
    return false;
  }

  // The names of the caches exposed now (the live ones), sorted.
  names() {
    this._prune();
    return [...this._entries.keys()].sort();
  }

  // Forgets the caches that were garbage-collected.
  _prune() {
    for (const [name, entry] of this._entries) {
      if (entry.ref.deref() === undefined) this._entries.delete(name);
    }
  }

  // Reads every cache once per scrape: prom-client calls each metric's collect() in one
  // synchronous pass (registry.metrics(), getMetricsAsJSON()), so the first call reads and the
  // samples are dropped when that pass ends.
  _samples() {
    if (this._scrape !== null) return this._scrape;
    const byFamily = new Map(FAMILIES.map(([name]) => [name, []]));
    for (const name of this.names()) {
      const entry = this._entries.get(name);
      const cache = entry.ref.deref();
      if (cache === undefined) continue;
      const out = [];
      const s = cache.stats();
      if (entry.kind === 'redis') {
        const l1 = l1Of(cache);
        redisSamples(s, l1 && typeof l1.stats === 'function' ? l1.stats() : undefined, out);
      } else if (entry.kind === 'disk') diskSamples(s, out);
      else memorySamples(s, out);
      if (entry.maxItems !== undefined)
        out.push(['twincache_max_items', undefined, entry.maxItems]);
      if (entry.maxBytes !== undefined)
        out.push(['twincache_max_bytes', undefined, entry.maxBytes]);
      for (const [family, extra, value] of out) {
        if (typeof value === 'number') byFamily.get(family).push([name, extra, value]);
      }
    }
    this._scrape = byFamily;
    queueMicrotask(() => {
      this._scrape = null;
    });
    return byFamily;
  }

  _fill(metric, family, extraLabel) {
    const samples = this._samples().get(family);
    metric.reset();
    for (const [cache, extra, value] of samples) {
      const labels = extraLabel === undefined ? { cache } : { cache, [extraLabel]: extra };
      if (metric instanceof prom.Counter) metric.inc(labels, value);
      else metric.set(labels, value);
    }
  }
}

function registryOption(options) {
  if (options === undefined || options === null) return prom.register;
  if (typeof options !== 'object') throw typeError('options', 'an object', options);
  const registry = options.registry;
  if (registry === undefined) return prom.register;
  if (!(registry instanceof prom.Registry)) {
    throw typeError('registry', 'a prom-client Registry', registry);
  }
  return registry;
}

// One collector per registry, made by collector() / register() on first use.
const collectors = new WeakMap();

// The collector register() uses for `registry` (prom-client's default registry unless given).
function collector(registry) {
  const r = registryOption(registry === undefined ? undefined : { registry });
  let found = collectors.get(r);
  if (found === undefined) {
    found = new TwincacheCollector({ registry: r });
    collectors.set(r, found);
  }
  return found;
}

// Exposes `cache` in options.registry (prom-client's default unless given) under the label
// cache=options.name (a memoized function's name by default); returns the name.
function register(cache, options) {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw typeError('options', 'an object', options);
  }
  const o = options || {};
  return collector(registryOption(o)).add(cache, o.name);
}

// Stops exposing a cache (the object or its name) in options.registry; false if it was not.
function unregister(cache, options) {
  return collector(registryOption(options)).remove(cache);
}

module.exports = { TwincacheCollector, collector, register, unregister };
