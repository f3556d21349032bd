'use strict';
// redis_coherence.js: L1 coherence for the Redis tier (issue 17; docs/redis.md, "Coherence"), the
// twin of python/twincache/_redis_coherence.py. Redis client-side caching in broadcast mode on
// namespace prefixes, over RESP2, so Redis 6+ (Debian's 7.0) and Valkey serve it alike.
//
// Listener: one per Redis server in a process (per url for caches that made their client, per
// client passed in), shared by every coherent cache of every namespace on it. A dedicated
// node-redis connection (RESP2, no automatic reconnection) asks its own id (CLIENT ID), turns
// tracking on with `CLIENT TRACKING on REDIRECT <its id> BCAST PREFIX <p1> PREFIX <p2> ...` and
// subscribes to `__redis__:invalidate`; each message (the names written, or null for a flush)
// goes to the caches whose prefix its names start with. A subscribed RESP2 connection refuses
// CLIENT TRACKING, so a new prefix makes a second connection tracking every prefix (make before
// break); once it has subscribed, the old one is sent a PING and closed at its PONG (every
// message it had is handled by then): nothing is lost, no L1 is flushed. Redis refuses
// overlapping prefixes on one connection: the shortest of overlapping ones is tracked (`a:`
// covers `a:b:`) and names are filtered per prefix. A prefix whose last cache left stays tracked
// (its messages are dropped) until the connection is next made; the listener stops, closing its
// connection, when its last cache is closed or collected.
//
// While a prefix is not tracked by a subscribed connection (connecting, reconnecting, Redis down)
// its caches keep new L1 entries for at most DETACHED_MS. Losing the connection flushes every L1 (messages may have been missed),
// and so does each new subscription (what was written in between was never reported); it
// reconnects with capped exponential backoff and jitter (50 ms to 2 s). A connection that drops
// silently (no reset: a partition, a blackhole) is found by a PING every second that must be
// answered within the setup timeout. Its sockets and timers are unref'd: coherence never keeps a
// process alive.
//
// Coherence: one per coherent cache (RedisCache holds it in `_coh`): the table entry name -> L1
// key, the epoch (messages received) and each recent name's latest invalidation epoch, so that a
// read that began before its name's invalidation does not put its (maybe older) value in L1.
const CHANNEL = '__redis__:invalidate';
const RETRY_DELAYS = [50, 2000]; // reconnect backoff (min, max) ms, with jitter
const HEARTBEAT_MS = 1000; // a PING on the subscribed connection this often (a silent drop)
const RECENT_NAMES = 4096; // invalidated names remembered per cache (past that: as a flush)
const NAMES_MIN = 512; // the name -> L1 key table is pruned past 2 x max(L1 items, this)
// The longest an entry stays in L1 while its prefix is not subscribed (Redis down, reconnecting):
// the staleness bound then (the subscription flushes L1 when it comes back).
const DETACHED_MS = 1000;

// ---- the listener -------------------------------------------------------------------------------

const listeners = new Map(); // url -> Listener (caches that made their client)
const clientListeners = new WeakMap(); // a client passed in -> Listener

// The prefixes a connection tracks for `prefixes`: the shortest of those that overlap.
function cover(prefixes) {
  const kept = [];
  for (const p of [...new Set(prefixes)].sort()) {
    if (kept.length === 0 || !p.startsWith(kept[kept.length - 1])) kept.push(p);
  }
  return kept;
}

const covered = (tracked, p) => tracked.some((t) => p.startsWith(t));

class Listener {
  // makeClient(): a new, unconnected node-redis client speaking RESP2, without reconnection.
  // release(): called once the last subscriber left and the listener stopped.
  constructor(makeClient, setupTimeout, release) {
    this.makeClient = makeClient;
    this.setupTimeout = setupTimeout; // ms a (re)subscription or a PING may take
    this.release = release;
    this.ready = false; // subscribed with tracking on (the prefixes of _tracked)
    this.messages = 0; // invalidation messages received
    this.flushes = 0; // times every subscriber's L1 was flushed (lost connection, flush)
    this.connections = 0; // successful (re)subscriptions, swaps for a new prefix included
    this._client = null; // the current connection (connecting or subscribed)
    this._old = null; // the connection a swap replaces, until its PONG
    this._next = null; // the connection a swap brings in, until then
    this._swapping = false;
    this._tracked = []; // the prefixes the subscribed connection tracks
    this._timer = null; // the reconnect timer
    this._beat = null; // the heartbeat interval while subscribed
    this._pinging = false; // a heartbeat PING is out
    this._failures = 0;
    this._started = 0; // connection attempts started
    this._ended = 0; // the number of the latest attempt that ended
    this._stopped = false;
    this._waiters = new Set(); // { prefix, seen, done } of waitReady() / waitSettled() calls
    // prefix -> Map(token -> { ref: WeakRef(owner), callback }): a cache forgotten without
    // close() goes.
    this._prefixes = new Map();
    this._nextToken = 1;
    this._finalizer = new FinalizationRegistry(({ prefix, token }) =>
      this.unsubscribe(prefix, token),
    );
    setImmediate(() => this._connect());
  }

  // callback(owner, names) for each message naming entries under `prefix` (null: a flush) while
  // owner lives and until unsubscribe(prefix, token).
  subscribe(prefix, owner, callback) {
    const token = this._nextToken++;
    let subs = this._prefixes.get(prefix);
    if (subs === undefined) {
      subs = new Map();
      this._prefixes.set(prefix, subs);
    }
    subs.set(token, { ref: new WeakRef(owner), callback });
    this._finalizer.register(owner, { prefix, token }, owner);
    if (this.ready && !covered(this._tracked, prefix)) this._swap();
    return token;
  }

  unsubscribe(prefix, token) {
    const subs = this._prefixes.get(prefix);
    const entry = subs === undefined ? undefined : subs.get(token);
    if (entry === undefined) return;
    subs.delete(token);
    if (subs.size === 0) this._prefixes.delete(prefix);
    const owner = entry.ref.deref();
    if (owner !== undefined) this._finalizer.unregister(owner);
    if (this._prefixes.size === 0) this.stop();
  }

  isReady(prefix) {
    return this.ready && covered(this._tracked, prefix);
  }

  // Resolves to whether `prefix` is tracked by a subscribed connection, waiting up to `ms`.
  waitReady(prefix, ms) {
    return this._waitFor(prefix, ms, Infinity);
  }

  // The same, but resolves as soon as a connection attempt started from now on ends (a refused
  // connection ends it at once): a cache's first call waits for this, never longer than `ms`.
  waitSettled(prefix, ms) {
    return this._waitFor(prefix, ms, this._started);
  }

  _waitFor(prefix, ms, seen) {
    if (this.isReady(prefix)) return Promise.resolve(true);
    if (this._stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = {
        prefix,
        seen,
        done: (ok) => {
          clearTimeout(timer);
          this._waiters.delete(waiter);
          resolve(ok);
        },
      };
      // Not unref'd: a call awaiting it keeps the process alive (at most `ms`), as its own
      // connection would.
      const timer = setTimeout(() => waiter.done(this.isReady(prefix)), ms);
      this._waiters.add(waiter);
    });
  }

  _settle() {
    for (const w of [...this._waiters]) {
      if (this._stopped) w.done(false);
      else if (this.isReady(w.prefix)) w.done(true);
      else if (this._ended > w.seen) w.done(false);
    }
  }

  // names to the caches of each prefix they fall under; null to every cache (or to the caches
  // of the prefixes `only`).
  _dispatch(names, only = null) {
    for (const [prefix, subs] of this._prefixes) {
      if (only !== null && !only.includes(prefix)) continue;
      let chosen = null;
      if (names !== null) {
        chosen = names.filter((n) => n.startsWith(prefix));
        if (chosen.length === 0) continue;
      }
      for (const [token, { ref, callback }] of subs) {
        const owner = ref.deref();
        if (owner === undefined) subs.delete(token);
        else callback(owner, chosen);
      }
    }
  }

  // A new connection tracking `prefixes`, subscribed; messages go through _message.
  async _open(client, prefixes, giveUp) {
    client.on('error', () => this._lost(client)); // a dropped or refused connection
    await client.connect();
    if (typeof client.unref === 'function') client.unref();
    const id = await client.sendCommand(['CLIENT', 'ID']);
    const args = ['CLIENT', 'TRACKING', 'on', 'REDIRECT', String(id), 'BCAST'];
    for (const p of prefixes) args.push('PREFIX', p);
    await client.sendCommand(args);
    await client.subscribe(CHANNEL, (names) => this._message(client, names));
    clearTimeout(giveUp);
  }

  async _connect() {
    this._timer = null;
    if (this._stopped) return;
    let client = null;
    let giveUp = null;
    const attempt = ++this._started;
    try {
      const prefixes = cover(this._prefixes.keys());
      client = this.makeClient();
      this._client = client;
      giveUp = setTimeout(() => this._lost(client), this.setupTimeout);
      giveUp.unref();
      await this._open(client, prefixes, giveUp);
      if (this._client !== client) return; // lost meanwhile: _lost cleaned up
      this._tracked = prefixes;
      // Anything written before this moment was not reported to us.
      this.flushes++;
      this._dispatch(null);
      this.connections++;
      this.ready = true;
      this._failures = 0;
      this._beat = setInterval(() => this._heartbeat(client), HEARTBEAT_MS);
      this._beat.unref();
      // A prefix that came while it connected.
      if (!cover(this._prefixes.keys()).every((p) => covered(prefixes, p))) this._swap();
    } catch {
      this._lost(client);
    } finally {
      clearTimeout(giveUp);
      this._ended = Math.max(this._ended, attempt);
      this._settle();
    }
  }

  // A connection tracking every prefix in place of the current one (make before break).
  async _swap() {
    if (this._swapping || !this.ready || this._stopped) return;
    this._swapping = true;
    const attempt = ++this._started;
    const old = this._client;
    let client = null;
    let giveUp = null;
    try {
      const prefixes = cover(this._prefixes.keys());
      client = this.makeClient();
      this._old = old;
      this._next = client;
      giveUp = setTimeout(() => this._lost(old), this.setupTimeout);
      giveUp.unref();
      client.on('error', () => this._lost(old)); // before it is the current one: as old's loss
      await this._open(client, prefixes, giveUp);
      if (this._client !== old || this._stopped) throw new Error('lost during the swap');
      // Every message queued on the old connection before the new one tracked comes before
      // this PONG.
      await Promise.race([
        old.sendCommand(['PING']),
        new Promise((_, reject) => {
          giveUp = setTimeout(reject, this.setupTimeout, new Error('no PONG'));
          giveUp.unref();
        }),
      ]);
      if (this._client !== old || this._stopped) throw new Error('lost during the swap');
      this._client = client;
      this._old = null;
      this._next = null;
      clearInterval(this._beat);
      this._beat = setInterval(() => this._heartbeat(client), HEARTBEAT_MS);
      this._beat.unref();
      client.removeAllListeners('error');
      client.on('error', () => this._lost(client));
      const before = this._tracked;
      this._tracked = prefixes;
      this.connections++;
      try {
        old.destroy();
      } catch {
        // already closed
      }
      // Caches of the prefixes newly tracked: what they kept was not covered.
      const fresh = [...this._prefixes.keys()].filter((p) => !covered(before, p));
      if (fresh.length > 0) this._dispatch(null, fresh);
    } catch {
      if (client !== null && client !== this._client) {
        try {
          client.destroy();
        } catch {
          // already closed
        }
      }
      this._old = null;
      this._next = null;
      this._lost(old);
    } finally {
      clearTimeout(giveUp);
      this._swapping = false;
      this._ended = Math.max(this._ended, attempt);
      this._settle();
    }
    if (this.ready && !cover(this._prefixes.keys()).every((p) => covered(this._tracked, p))) {
      this._swap();
    }
  }

  _message(client, names) {
    if (client !== this._client && client !== this._old && client !== this._next) return;
    this.messages++;
    if (names === null || !Array.isArray(names)) {
      this.flushes++; // FLUSHALL / FLUSHDB: every key
      this._dispatch(null);
    } else {
      this._dispatch(names.map(String));
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
    this._tracked = [];
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
    this._settle();
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
    for (const c of [this._client, this._old, this._next]) {
      if (c === null) continue;
      try {
        c.destroy();
      } catch {
        // already closed
      }
    }
    this._client = null;
    this._old = null;
    this._next = null;
    this._settle();
    this.release();
  }
}

// The process's listener for this server: `link` is the cache's (redis.js Link; its
// listenerClient() makes the connection), `setupTimeout` bounds each (re)subscription. On a
// cluster (redis_cluster.js ClusterLink): the (cluster, prefix)'s ClusterListener, one Listener
// per master behind the same interface.
function listenerFor(link, prefix, setupTimeout) {
  if (link.cluster)
    return require('./redis_cluster').clusterListenerFor(link, prefix, setupTimeout);
  const make = () => link.listenerClient();
  if (link.owned) {
    const id = link.url;
    let found = listeners.get(id);
    if (found === undefined || found._stopped) {
      found = new Listener(make, setupTimeout, () => {
        if (listeners.get(id) === found) listeners.delete(id);
      });
      listeners.set(id, found);
    }
    return found;
  }
  let found = clientListeners.get(link.raw);
  if (found === undefined || found._stopped) {
    found = new Listener(make, setupTimeout, () => {
      if (clientListeners.get(link.raw) === found) clientListeners.delete(link.raw);
    });
    clientListeners.set(link.raw, found);
  }
  return found;
}

// ---- one cache's side ---------------------------------------------------------------------------

class Coherence {
  // cache: the RedisCache (its _l1 and _counts are used); l1Max: L1's item budget.
  constructor(cache, link, namespace, l1Max, setupTimeout, firstWait) {
    this.epoch = 0; // invalidation messages this cache received
    this._flushedEpoch = 0; // the epoch of the latest flush (or "too many names to remember")
    this._recent = new Map(); // entry name -> the epoch of its latest invalidation
    this._names = new Map(); // entry name -> its L1 key, for entries put in L1
    this._namesLimit = 2 * Math.max(Number.isFinite(l1Max) ? l1Max : 0, NAMES_MIN);
    this.prefix = `${namespace}:`;
    this.listener = listenerFor(link, this.prefix, setupTimeout);
    this._token = this.listener.subscribe(this.prefix, cache, (c, names) =>
      c._coh._invalidated(c, names),
    );
    // Until the listener's first attempt for this prefix ended (or `firstWait` ms): the cache's
    // first calls wait for it (redis.js), so L1 fills from the first call on.
    this.pending = this.listener.waitSettled(this.prefix, firstWait).then(() => {
      this.pending = null;
    });
  }

  get ready() {
    return this.listener.isReady(this.prefix);
  }

  waitReady(ms) {
    return this.listener.waitReady(this.prefix, ms);
  }

  // Whether `name` was invalidated (or L1 flushed) after `epoch`.
  stale(name, epoch) {
    if (epoch === this.epoch) return false;
    if (this._flushedEpoch > epoch) return true;
    const at = this._recent.get(name);
    return at !== undefined && at > epoch;
  }

  // How long (ms) a value of `name` may stay in L1 under l1Key: -1 (not at all) for a read's
  // value when an invalidation came since the read started (`epoch`; a write passes none: its
  // value is the newest from now on); DETACHED_MS while the prefix is not subscribed (nothing
  // can tell us of a write meanwhile); else Infinity. When it may, the name is remembered for
  // invalidations.
  admit(cache, name, l1Key, epoch) {
    if (epoch !== undefined && this.stale(name, epoch)) return -1;
    const names = this._names;
    names.set(name, l1Key);
    if (names.size > this._namesLimit) {
      // Forget the names of entries L1 evicted or expired.
      const l1 = cache._l1;
      for (const [n, k] of names) if (!l1.has(k)) names.delete(n);
      this._namesLimit = Math.max(this._namesLimit, 2 * names.size);
    }
    return this.listener.isReady(this.prefix) ? Infinity : DETACHED_MS;
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
    this.listener.unsubscribe(this.prefix, this._token);
  }
}

module.exports = { CHANNEL, Coherence, DETACHED_MS, Listener, cover, listenerFor };
