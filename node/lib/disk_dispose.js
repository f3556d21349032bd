'use strict';
// disk_dispose.js: DiskCache's dispose(value, key, reason) (docs/persistence.md, "Freshness and
// control"). A DiskCache built with dispose gets a Notifier; one without keeps disk.js's paths.
//
// Told: the removals this handle makes (other processes' are not seen), once each, after the
// store call: 'replaced' (set over a live entry), 'deleted' (delete(), evict(tag)), 'expired'
// (prune(), a read or a write that meets an expired entry), 'cleared' (clear()), 'evicted'
// (prune() culling down to maxBytes). The value is read (a peek: not counted, not touched)
// before the removal, so dispose costs one read per set and delete and per entry cleared or
// pruned. A memory-only DiskCache (no addon, or an unusable directory) tells its memory cache's
// removals, for every reason.
const { reportDisposeError } = require('./cache');

function attach(cache, dispose) {
  const disk = require('./disk');
  const store = cache._store;
  if (!store.persistent) {
    // The memory store's Cache holds [codec, bytes, keyBytes] entries: told decoded.
    store._cache._dispose = (e, _id, reason) =>
      dispose(disk.loads(e[0], e[1]), disk.decodeKey(e[2]), reason);
    return;
  }
  cache._dispose = new Notifier(cache, dispose, disk);
}

class Notifier {
  constructor(cache, dispose, disk) {
    this.cache = cache;
    this.dispose = dispose;
    this.disk = disk;
  }

  raw(k) {
    return this.cache._peekBytes(k, true);
  }

  live(hit) {
    return hit[2] === 0 || hit[2] / 1e6 > this.disk.wallNow();
  }

  tell(events) {
    const { loads, decodeKey } = this.disk;
    for (const [k, hit, reason] of events) {
      let value;
      try {
        value = hit === undefined ? undefined : loads(hit[0], hit[1]);
      } catch {
        value = hit[1]; // an entry this language cannot read (Python's pickle): its bytes
      }
      try {
        this.dispose(value, decodeKey(k), reason);
      } catch (err) {
        reportDisposeError(err);
      }
    }
  }

  snapshot(keys) {
    const out = [];
    for (const k of keys) {
      const hit = this.raw(k);
      if (hit !== undefined) out.push([k, hit]);
    }
    return out;
  }

  read(k) {
    const { call, loads, MISS } = this.disk;
    const store = this.cache._store;
    const before = this.raw(k);
    const hit = call(() => store.get(k));
    if (hit !== undefined) return loads(hit[0], hit[1]);
    if (before !== undefined && !this.live(before)) this.tell([[k, before, 'expired']]);
    return MISS;
  }

  set(k, write) {
    const old = this.raw(k);
    const live = old !== undefined && this.live(old);
    write();
    if (old !== undefined) this.tell([[k, old, live ? 'replaced' : 'expired']]);
  }

  erase(k) {
    const old = this.raw(k);
    const live = old !== undefined && this.live(old);
    const erased = this.cache._eraseBytes(k);
    if (old !== undefined && (erased || !live)) {
      this.tell([[k, old, erased ? 'deleted' : 'expired']]);
    }
    return erased;
  }

  clear() {
    const { call } = this.disk;
    const store = this.cache._store;
    const expired = this.snapshot(call(() => store.keys(true)));
    const live = this.snapshot(call(() => store.keys()));
    call(() => store.clear());
    this.tell([
      ...expired.map(([k, h]) => [k, h, 'expired']),
      ...live.map(([k, h]) => [k, h, 'cleared']),
    ]);
  }

  evictTag(tag) {
    const { call, keyBytes } = this.disk;
    const store = this.cache._store;
    const before = this.snapshot(this.cache.query({ tag }).map((r) => keyBytes(r.key)));
    const n = call(() => store.evictTag(tag));
    this.tell(before.map(([k, h]) => [k, h, 'deleted']));
    return n;
  }

  // prune(): 'expired', and 'evicted' for entries culled down to maxBytes (their values read
  // before the prune for the least recently used entries the excess covers; undefined past them).
  prune() {
    const { call } = this.disk;
    const store = this.cache._store;
    const expired = this.snapshot(call(() => store.keys(true)));
    const live = call(() => store.keys()); // least recently used first: the eviction order
    const values = new Map();
    const budget = this.cache._budget;
    if (budget !== Infinity) {
      const over = call(() => store.stats()).bytes - budget;
      let covered = 0;
      for (const k of live) {
        if (covered > 2 * over && values.size >= 16) break;
        const hit = this.raw(k);
        if (hit !== undefined) {
          values.set(k.latin1Slice(), hit);
          covered += k.length + hit[1].length;
        }
      }
    }
    const n = call(() => store.prune());
    const left = new Set(call(() => store.keys()).map((k) => k.latin1Slice()));
    const events = expired.filter(([k]) => !left.has(k.latin1Slice()));
    const told = events.map(([k, h]) => [k, h, 'expired']);
    for (const k of live) {
      const id = k.latin1Slice();
      if (!left.has(id)) told.push([k, values.get(id), 'evicted']);
    }
    this.tell(told);
    return n;
  }
}

module.exports = { attach };
