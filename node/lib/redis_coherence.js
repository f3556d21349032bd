'use strict';
// redis_coherence.js: L1 coherence for the Redis tier (issue 17; docs/redis.md, "Coherence"), the
// twin of python/twincache/_redis_coherence.py. Redis client-side caching in broadcast mode on a
// namespace prefix, over RESP2, so Redis 6+ (Debian's 7.0) and Valkey serve it alike.
//
// Listener: one per (server, prefix) in a process, shared by every coherent cache of that
// namespace. A dedicated node-redis connection (RESP2, no automatic reconnection) asks its own id
// (CLIENT ID), turns tracking on with `CLIENT TRACKING on REDIRECT <its id> BCAST PREFIX
// <namespace>:` and subscribes to `__redis__:invalidate`; each message (the names written, or
// null for a flush) goes to its caches. While it is not subscribed (connecting, reconnecting) it
// is not `ready`: its caches then put nothing new in L1. Losing the connection flushes every L1
// (messages may have been missed), and so does each new subscription (what was written in between
// was never reported); it reconnects with capped exponential backoff and jitter (50 ms to 2 s).
// A connection that drops silently (no reset: a partition, a blackhole) is found by a PING every
// second that must be answered within the setup timeout.
// Its socket and timers are unref'd: coherence never keeps a process alive.
//
// Coherence: one per coherent cache (RedisCache holds it in `_coh`): the table entry name -> L1
// key, the epoch (messages received) and each recent name's latest invalidation epoch, so that a
// read that began before its name's invalidation does not put its (maybe older) value in L1.
const CHANNEL = '__redis__:invalidate';
const RETRY_DELAYS = [50, 2000]; // reconnect backoff (min, max) ms, with jitter
const HEARTBEAT_MS = 1000; // a PING on the subscribed connection this often (a silent drop)
const RECENT_NAMES = 4096; // invalidated names remembered per cache (past that: as a flush)
const NAMES_MIN = 512; // the name -> L1 key table is pruned past 2 x max(L1 items, this)

// ---- the listener -------------------------------------------------------------------------------

const listeners = new Map(); // url + '\n' + prefix -> Listener (caches that made their client)
const clientListeners = new WeakMap(); // a client passed in -> Map(prefix -> Listener)

class Listener {
  // makeClient(): a new, unconnected node-redis client speaking RESP2, without reconnection.
  // release(): called once the last subscriber left and the listener stopped.
  constructor(makeClient, prefix, setupTimeout, release) {
    this.makeClient = makeClient;
    this.prefix = prefix;
    this.setupTimeout = setupTimeout; // ms a (re)subscription or a PING may take
    this.release = release;
    this.ready = false; // subscribed with tracking on
    this.messages = 0; // invalidation messages received
    this.flushes = 0; // times every subscriber's L1 was flushed (lost connection, flush)
    this.connections = 0; // successful (re)subscriptions
    this._client = null; // the current connection (connecting or subscribed)
    this._timer = null; // the reconnect timer
    this._beat = null; // the heartbeat interval while subscribed
    this._pinging = false; // a heartbeat PING is out
    this._failures = 0;
    this._stopped = false;
    this._waiters = new Set(); // resolve functions of waitReady() calls
    // token -> { ref: WeakRef(owner), callback }: a cache forgotten without close() goes.
    this._subscribers = new Map();
    this._nextToken = 1;
    this._finalizer = new FinalizationRegistry((token) => this.unsubscribe(token));
    this._connect();
  }

  // callback(owner, names) for each message while owner lives and until unsubscribe(token).
  subscribe(owner, callback) {
    const token = this._nextToken++;
    this._subscribers.set(token, { ref: new WeakRef(owner), callback });
    this._finalizer.register(owner, token, owner);
    return token;
  }

  unsubscribe(token) {
    const entry = this._subscribers.get(token);
    if (entry === undefined) return;
    this._subscribers.delete(token);
    const owner = entry.ref.deref();
    if (owner !== undefined) this._finalizer.unregister(owner);
    if (this._subscribers.size === 0) this.stop();
  }

  // Resolves to whether the listener is subscribed, waiting up to `ms`.
  waitReady(ms) {
    if (this.ready) return Promise.resolve(true);
    if (this._stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok) => {
        clearTimeout(timer);
        this._waiters.delete(done);
        resolve(ok);
      };
      const timer = setTimeout(done, ms, false);
      this._waiters.add(done);
    });
  }

  _dispatch(names) {
    for (const [token, { ref, callback }] of this._subscribers) {
      const owner = ref.deref();
      if (owner === undefined) this._subscribers.delete(token);
      else callback(owner, names);
    }
  }

  async _connect() {
    this._timer = null;
    if (this._stopped) return;
    let client = null;
    let giveUp = null;
    try {
      client = this.makeClient();
      this._client = client;
      client.on('error', () => this._lost(client)); // a dropped or refused connection
      giveUp = setTimeout(() => this._lost(client), this.setupTimeout);
      giveUp.unref();
      await client.connect();
      if (typeof client.unref === 'function') client.unref();
      const id = await client.sendCommand(['CLIENT', 'ID']);
      await client.sendCommand([
        'CLIENT',
        'TRACKING',
        'on',
        'REDIRECT',
        String(id),
        'BCAST',
        'PREFIX',
        this.prefix,
      ]);
      await client.subscribe(CHANNEL, (names) => this._message(client, names));
      if (this._client !== client) return; // lost meanwhile: _lost cleaned up
      // Anything written before this moment was not reported to us.
      this.flushes++;
      this._dispatch(null);
      this.connections++;
      this.ready = true;
      this._failures = 0;
      this._beat = setInterval(() => this._heartbeat(client), HEARTBEAT_MS);
      this._beat.unref();
      for (const done of [...this._waiters]) done(true);
    } catch {
      this._lost(client);
    } finally {
      clearTimeout(giveUp);
    }
  }

  _message(client, names) {
    if (client !== this._client) return;
    this.messages++;
    if (names === null || !Array.isArray(names)) {
      this.flushes++; // FLUSHALL / FLUSHDB: every key
      this._dispatch(null);
    } else {
      this._dispatch(names);
    }
  }

  _heartbeat(client) {
    if (client !== this._client || this._pinging) return;
    this._pinging = true;
    const done = (ok) => {
      clearTimeout(timer);
      if (client !== this._client) return;
      this._pinging = false;
      if (!ok) this._lost(client);
    };
    const timer = setTimeout(done, this.setupTimeout, false);
    timer.unref();
    client.sendCommand(['PING']).then(
      () => done(true),
      () => done(false),
    );
  }

  // The connection `client` failed (or never came up): flush, forget it, reconnect later.
  _lost(client) {
    if (client === null || client !== this._client) return;
    this._client = null;
    this._pinging = false;
    clearInterval(this._beat);
    this._beat = null;
    const wasReady = this.ready;
    this.ready = false;
    if (wasReady) {
      this.flushes++;
      this._dispatch(null);
    }
    try {
      client.destroy();
    } catch {
      // already closed
    }
    if (this._stopped) return;
    this._failures++;
    const [low, high] = RETRY_DELAYS;
    const delay = Math.min(high, low * 2 ** Math.min(this._failures, 10));
    this._timer = setTimeout(() => this._connect(), delay * (0.5 + Math.random() / 2));
    this._timer.unref();
  }

  stop() {
    if (this._stopped) return;
    this._stopped = true;
    this.ready = false;
    if (this._timer !== null) clearTimeout(this._timer);
    this._timer = null;
    clearInterval(this._beat);
    this._beat = null;
    const c = this._client;
    this._client = null;
    if (c !== null) {
      try {
        c.destroy();
      } catch {
        // already closed
      }
    }
    for (const done of [...this._waiters]) done(false);
    this.release();
  }
}

// The process's listener for this server and prefix: `link` is the cache's (redis.js Link; its
// listenerClient() makes the connection), `setupTimeout` bounds each (re)subscription.
function listenerFor(link, prefix, setupTimeout) {
  if (link.cluster)
    return require('./redis_cluster').clusterListenerFor(link, prefix, setupTimeout);
  const make = () => link.listenerClient();
  if (link.owned) {
    const id = `${link.url}\n${prefix}`;
    let found = listeners.get(id);
    if (found === undefined) {
      found = new Listener(make, prefix, setupTimeout, () => {
        if (listeners.get(id) === found) listeners.delete(id);
      });
      listeners.set(id, found);
    }
    return found;
  }
  let byPrefix = clientListeners.get(link.raw);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    clientListeners.set(link.raw, byPrefix);
  }
  let found = byPrefix.get(prefix);
  if (found === undefined) {
    found = new Listener(make, prefix, setupTimeout, () => {
      if (byPrefix.get(prefix) === found) byPrefix.delete(prefix);
    });
    byPrefix.set(prefix, found);
  }
  return found;
}

// ---- one cache's side ---------------------------------------------------------------------------

class Coherence {
  // cache: the RedisCache (its _l1 and _counts are used); l1Max: L1's item budget.
  constructor(cache, link, namespace, l1Max, setupTimeout) {
    this.epoch = 0; // invalidation messages this cache received
    this._flushedEpoch = 0; // the epoch of the latest flush (or "too many names to remember")
    this._recent = new Map(); // entry name -> the epoch of its latest invalidation
    this._names = new Map(); // entry name -> its L1 key, for entries put in L1
    this._namesLimit = 2 * Math.max(Number.isFinite(l1Max) ? l1Max : 0, NAMES_MIN);
    this.listener = listenerFor(link, `${namespace}:`, setupTimeout);
    this._token = this.listener.subscribe(cache, (c, names) => c._coh._invalidated(c, names));
  }

  get ready() {
    return this.listener.ready;
  }

  // Whether `name` was invalidated (or L1 flushed) after `epoch`.
  stale(name, epoch) {
    if (epoch === this.epoch) return false;
    if (this._flushedEpoch > epoch) return true;
    const at = this._recent.get(name);
    return at !== undefined && at > epoch;
  }

  // Whether a value of `name` may go in L1 under l1Key: only while subscribed, and not a read's
  // value when an invalidation came since the read started (`epoch`; a write passes none: its
  // value is the newest from now on). When it may, the name is remembered for invalidations.
  admit(cache, name, l1Key, epoch) {
    if (!this.listener.ready) return false;
    if (epoch !== undefined && this.stale(name, epoch)) return false;
    const names = this._names;
    names.set(name, l1Key);
    if (names.size > this._namesLimit) {
      // Forget the names of entries L1 evicted or expired.
      const l1 = cache._l1;
      for (const [n, k] of names) if (!l1.has(k)) names.delete(n);
      this._namesLimit = Math.max(this._namesLimit, 2 * names.size);
    }
    return true;
  }

  // L1 was emptied by the cache itself (clear()).
  cleared() {
    this._names.clear();
  }

  // A message: drop these names' L1 entries, or all of L1 (names null).
  _invalidated(cache, names) {
    const epoch = ++this.epoch;
    if (names === null || this._recent.size + names.length > RECENT_NAMES) {
      this._flushedEpoch = epoch; // reads that began before: not kept, whatever the name
      this._recent.clear();
    }
    if (names === null) {
      this._names.clear();
      cache._l1.clear();
      cache._counts.l1_flushes++;
      return;
    }
    const tracked = this._names;
    for (const name of names) {
      this._recent.set(name, epoch);
      const l1Key = tracked.get(name);
      if (l1Key !== undefined) {
        tracked.delete(name);
        cache._l1.delete(l1Key);
        cache._counts.invalidations++;
      }
    }
  }

  close() {
    this.listener.unsubscribe(this._token);
  }
}

module.exports = { CHANNEL, Coherence, Listener, listenerFor };
