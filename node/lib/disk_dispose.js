'use strict';
// disk_dispose.js: DiskCache's dispose(value, key, reason) (docs/persistence.md, "Freshness and
// control"). A DiskCache built with dispose gets a Notifier; one without keeps disk.js's paths.
//
// Told: the removals this handle makes (other processes' are not seen), once each, after the
// store call, outside the store's locks: 'replaced' (set over a live entry), 'deleted'
// (delete(), evict(tag)), 'expired' (a read or a write that meets an expired entry), 'cleared'
// (clear()): for these the value is read (a peek: not counted, not touched) before the removal,
// so dispose costs one read per set and delete and per entry cleared. Entries the store removes
// on its own, culled down to maxBytes by a write or prune() ('evicted') or reclaimed after their
// TTL ('expired'), come from the store's removal reports (disk_store::report_removals: the
// victims' rows, their values read only because dispose is set), drained after each call
// through this handle: sets are committed in the background, so their victims are told by the
// next call (or flush()). A memory-only DiskCache (no addon, or an unusable directory) tells its
// memory cache's removals, for every reason.
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
  store.reportRemovals(true, true);
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
    for (const [k, hit, reason] of events) this.one(k, hit, reason);
    this.tellRemoved();
  }

  one(k, hit, reason) {
    const { loads, decodeKey } = this.disk;
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

  // The store's removal reports ('evicted', 'expired'), each once: takeRemovals() hands them
  // over one time, so a dispose that calls back into the cache is safe.
  tellRemoved() {
    const store = this.cache._store;
    while (store.hasRemovals()) {
      for (const [k, reason, codec, bytes] of store.takeRemovals()) {
        this.one(k, bytes === undefined ? undefined : [codec, bytes], reason);
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
    if (store.hasRemovals()) this.tellRemoved(); // what the writer thread culled meanwhile
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
    this.tell(old === undefined ? [] : [[k, old, live ? 'replaced' : 'expired']]);
  }

  erase(k) {
    const old = this.raw(k);
    const live = old !== undefined && this.live(old);
    const erased = this.cache._eraseBytes(k);
    const told = [];
    if (old !== undefined && (erased || !live)) told.push([k, old, erased ? 'deleted' : 'expired']);
    this.tell(told);
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

  // prune(): 'expired' and 'evicted', from the store's removal reports.
  prune() {
    const store = this.cache._store;
    const n = this.disk.call(() => store.prune());
    this.tellRemoved();
    return n;
  }

  flush() {
    const store = this.cache._store;
    try {
      this.disk.call(() => store.flush());
    } finally {
      this.tellRemoved();
    }
  }
}

module.exports = { attach };
