'use strict';
// redis_cluster.js: the Redis tier on a Redis Cluster (issue 17; docs/redis.md, "Use (Node)").
//
// ClusterLink is redis_link.js's Link for a cluster: node-redis's own cluster client
// (createCluster), made from one or more seed URLs (`url` may be an array with cluster: true) or
// passed in. Entry names and the stored format are those of a single server: every command is
// routed by its key's hash slot; a read of several names is grouped by slot (one MGET + PTTLs per
// slot, sent in one tick, so the groups of one master share its connection's round trip), and so is
// UNLINK; clear() SCANs every master. A cluster the cache made itself is destroyed after a failed
// call (a dead master, a blackholed socket) and made again by the next call the breaker lets
// through, from the seeds plus every master it last knew: after a failover the new topology comes
// from whichever node answers, so a replica's promotion is picked up without help. A cluster
// passed in is asked to rediscover its slots instead (best effort: node-redis's own client).
//
// ClusterListener is redis_coherence.js's Listener for a cluster: one Listener (RESP2 connection,
// CLIENT TRACKING on REDIRECT BCAST PREFIX, __redis__:invalidate) per master, since a master
// reports only the writes it serves. It reads the topology (CLUSTER SLOTS) every second and on
// every lost listener; when the masters change it stops the old masters' listeners, starts the
// new ones' and flushes every subscriber's L1 (what the new master served before was never
// reported). It is ready only while every master's listener is subscribed.
const { BaseLink, clientOptions, destroyQuietly, loadRedis, isWrongType } = require('./redis_link');
const { Listener } = require('./redis_coherence');

const SLOTS = 16384;
const TOPOLOGY_MS = 1000; // the listener re-reads the topology this often
const KNOWN_SEEDS_MAX = 64; // masters remembered as extra seeds

// ---- hash slots (the cluster spec's CRC16-XMODEM of the key or its {hash tag}) ----------------

const CRC_TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 8;
  for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  CRC_TABLE[i] = c;
}

// The slot of a name (a string, taken as UTF-8, or a Buffer).
function slotOf(name) {
  const b = Buffer.isBuffer(name) ? name : Buffer.from(name, 'utf8');
  let start = 0;
  let end = b.length;
  const open = b.indexOf(0x7b); // '{'
  if (open !== -1) {
    const close = b.indexOf(0x7d, open + 1); // '}'
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++)
    crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ b[i]) & 0xff];
  return crc % SLOTS;
}

// Map slot -> [indexes into names], in first-seen order.
function groupBySlot(names) {
  const groups = new Map();
  for (let i = 0; i < names.length; i++) {
    const slot = slotOf(names[i]);
    const g = groups.get(slot);
    if (g === undefined) groups.set(slot, [i]);
    else g.push(i);
  }
  return groups;
}

// The key a command is routed by (the commands redis.js and redis_flight.js send).
function firstKey(args) {
  const cmd = String(args[0]).toUpperCase();
  if (cmd === 'EVALSHA' || cmd === 'EVAL') return Number(args[2]) > 0 ? args[3] : undefined;
  return args[1];
}

// A seed's auth and scheme, for the nodes a cluster finds (they are announced as host:port only).
function nodeDefaults(url, timeout, tls) {
  const o = clientOptions(url, timeout, tls);
  const u = new URL(url);
  const d = { socket: o.socket, disableOfflineQueue: true };
  if (u.protocol === 'rediss:') d.socket = { ...d.socket, tls: true };
  if (u.username) d.username = decodeURIComponent(u.username);
  if (u.password) d.password = decodeURIComponent(u.password);
  return d;
}

// The options a node-redis cluster client was made with (node-redis 5 keeps them in `_options`).
function clusterOptions(client) {
  const o = client.options || client._options;
  return o !== null && typeof o === 'object' ? o : null;
}

// ---- the link ---------------------------------------------------------------------------------

class ClusterLink extends BaseLink {
  // seeds: redis:// or rediss:// URLs (none with a client); client: a createCluster() client or
  // null; tls: redis_tls.js's options or null.
  constructor(seeds, client, timeout, tls) {
    super(client, timeout, tls);
    this.seeds = seeds;
    this.url = seeds.join(','); // the listener registry's key
    this.cluster = true;
    this.pipelined = true;
    this.known = []; // host:port of the masters last seen (extra seeds)
    this._rediscovering = false;
  }

  now() {
    const c = this.client;
    return c !== null && c.isOpen ? c : null;
  }

  // Node options for host:port (the listeners' connections, and the cluster's nodes).
  nodeOptions(host, port) {
    if (!this.owned) {
      const d = (clusterOptions(this.raw) || {}).defaults || {};
      return { ...d, socket: { ...(d.socket || {}), host, port, reconnectStrategy: false } };
    }
    const d = nodeDefaults(this.seeds[0], this.timeout, this.tls);
    return { ...d, socket: { ...d.socket, host, port } };
  }

  // Where to ask for the topology: the masters last seen, then the seeds.
  seedAddresses() {
    const out = [...this.known];
    for (const s of this.seeds) {
      const u = new URL(s);
      const a = `${u.hostname}:${u.port || 6379}`;
      if (!out.includes(a)) out.push(a);
    }
    const ro = this.owned ? null : clusterOptions(this.raw);
    if (!this.owned) {
      for (const m of this.raw.masters || []) if (!out.includes(m.address)) out.push(m.address);
    }
    if (ro !== null && Array.isArray(ro.rootNodes)) {
      for (const r of ro.rootNodes) {
        if (r && r.url) {
          const u = new URL(r.url);
          out.push(`${u.hostname}:${u.port || 6379}`);
        } else if (r && r.socket && r.socket.host) {
          out.push(`${r.socket.host}:${r.socket.port || 6379}`);
        }
      }
    }
    return out;
  }

  _create() {
    const { createCluster } = loadRedis();
    const first = nodeDefaults(this.seeds[0], this.timeout, this.tls);
    // The seeds given, then the masters last seen (a seed that died is skipped in turn).
    const rootNodes = this.seeds.map((url) => ({ url, socket: { ...first.socket } }));
    for (const a of this.known) {
      const i = a.lastIndexOf(':');
      const socket = { ...first.socket, host: a.slice(0, i), port: Number(a.slice(i + 1)) };
      if (!rootNodes.some((r) => r.socket.host === socket.host && r.socket.port === socket.port))
        rootNodes.push({ socket });
    }
    for (const r of rootNodes) {
      if (r.url) {
        const u = new URL(r.url);
        r.socket.host = u.hostname;
        r.socket.port = Number(u.port || 6379);
        delete r.url;
      }
    }
    const c = createCluster({
      rootNodes,
      defaults: first,
      minimizeConnections: true, // a master is connected when first used: a dead one fails alone
      maxCommandRedirections: 4,
    });
    // Counted where a call fails; an unlistened 'error' would throw.
    c.on('error', () => {});
    c.on('node-error', () => {});
    return c;
  }

  _connected(c) {
    this.known = c.masters.map((m) => m.address).slice(0, KNOWN_SEEDS_MAX);
  }

  // A call on `which` failed: an owned cluster is destroyed (made again by the next call), one
  // passed in is asked to rediscover its slots.
  drop(which = this.client) {
    const c = this.client;
    if (!this.owned) {
      if (which !== null) this._rediscover();
      return;
    }
    if (c === null || (which !== null && which !== c)) return;
    this.client = null;
    if (which === null) this.connecting = null;
    destroyQuietly(c);
  }

  _rediscover() {
    const slots = this.raw._slots; // node-redis 5's slot map; another layout: nothing to do
    if (this._rediscovering || !slots || typeof slots.rediscover !== 'function') return;
    const master = slots.masters.find((m) => m.client && m.client.isReady);
    if (master === undefined) return;
    this._rediscovering = true;
    slots
      .rediscover(master.client)
      .catch(() => {})
      .finally(() => {
        this._rediscovering = false;
      });
  }

  send(client, args) {
    return client.sendCommand(firstKey(args), false, args, this._options());
  }

  // The read of names (redis_link.js's pipeline), by slot: one GET + PTTL (one name) or MGET +
  // PTTLs per slot, all written in one tick. Same reply shape: [[value or null...], PTTL...].
  pipeline(client, names) {
    const o = this._options();
    const n = names.length;
    const values = new Array(n).fill(null);
    const ttls = new Array(n);
    const work = [];
    for (const idx of groupBySlot(names).values()) {
      const key = names[idx[0]];
      if (idx.length === 1) {
        work.push(
          client.sendCommand(key, false, ['GET', key], o).then(
            (v) => {
              values[idx[0]] = v;
            },
            (err) => {
              if (!isWrongType(err)) throw err;
            },
          ),
        );
      } else {
        const group = idx.map((i) => names[i]);
        work.push(
          client.sendCommand(key, false, ['MGET', ...group], o).then((v) => {
            for (let j = 0; j < idx.length; j++) values[idx[j]] = v[j];
          }),
        );
      }
      for (const i of idx) {
        work.push(
          client.sendCommand(names[i], false, ['PTTL', names[i]], o).then((t) => {
            ttls[i] = t;
          }),
        );
      }
    }
    return Promise.all(work).then(() => [values, ...ttls]);
  }

  // clear(): every master's own connection (SCAN is per node).
  scanTargets(client) {
    return Promise.all(client.masters.map((m) => client.nodeClient(m)));
  }

  // UNLINK grouped by slot (a command's keys must share one); the number removed.
  unlink(client, names) {
    const o = this._options();
    const work = [];
    for (const idx of groupBySlot(names).values()) {
      const group = idx.map((i) => names[i]);
      work.push(client.sendCommand(group[0], false, ['UNLINK', ...group], o));
    }
    return Promise.all(work).then((counts) => counts.reduce((a, b) => a + Number(b), 0));
  }
}

// ---- coherence: one listener per master --------------------------------------------------------

const clusterListeners = new Map(); // seeds + '\n' + prefix -> ClusterListener (owned links)
const clientClusterListeners = new WeakMap(); // a cluster passed in -> Map(prefix -> listener)

// The masters' addresses (host:port), sorted, from CLUSTER SLOTS of the first node that answers.
async function readMasters(link, setupTimeout) {
  const { createClient } = loadRedis();
  for (const a of link.seedAddresses()) {
    const i = a.lastIndexOf(':');
    const o = link.nodeOptions(a.slice(0, i), Number(a.slice(i + 1)));
    const c = createClient({
      ...o,
      RESP: 2,
      disableOfflineQueue: true,
      socket: { ...o.socket, connectTimeout: setupTimeout, reconnectStrategy: false },
    });
    c.on('error', () => {});
    let timer = null;
    try {
      const answer = Promise.race([
        (async () => {
          await c.connect();
          return c.sendCommand(['CLUSTER', 'SLOTS']);
        })(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), setupTimeout);
          timer.unref();
        }),
      ]);
      const slots = await answer;
      const masters = new Set();
      for (const r of slots) masters.add(`${String(r[2][0]) || a.slice(0, i)}:${Number(r[2][1])}`);
      if (masters.size > 0) return [...masters].sort();
    } catch {
      // the next address
    } finally {
      clearTimeout(timer);
      destroyQuietly(c);
    }
  }
  return null;
}

class ClusterListener {
  constructor(link, prefix, setupTimeout, release) {
    this.link = link;
    this.prefix = prefix;
    this.setupTimeout = setupTimeout;
    this.release = release;
    this.masters = []; // host:port, sorted
    this.byMaster = new Map(); // host:port -> Listener
    this.topologyChanges = 0; // times the set of masters changed after the first reading
    this._subscribers = new Map(); // token -> { ref: WeakRef(owner), callback }
    this._nextToken = 1;
    this._finalizer = new FinalizationRegistry((token) => this.unsubscribe(this.prefix, token));
    this._stopped = false;
    this._reading = false;
    this._soon = null;
    this._timer = setInterval(() => this._refresh(), TOPOLOGY_MS);
    this._timer.unref();
    this._refresh();
  }

  // Subscribed with tracking on at every master of the current topology.
  get ready() {
    if (this._stopped || this.byMaster.size === 0) return false;
    for (const l of this.byMaster.values()) if (!l.isReady(this.prefix)) return false;
    return true;
  }

  // The Listener interface (redis_coherence.js) Coherence uses; `prefix` is this listener's.
  isReady() {
    return this.ready;
  }

  waitSettled(prefix, ms) {
    return this.waitReady(prefix, ms);
  }

  get messages() {
    let n = 0;
    for (const l of this.byMaster.values()) n += l.messages;
    return n;
  }

  subscribe(prefix, owner, callback) {
    const token = this._nextToken++;
    this._subscribers.set(token, { ref: new WeakRef(owner), callback });
    this._finalizer.register(owner, token, owner);
    return token;
  }

  unsubscribe(prefix, token) {
    const entry = this._subscribers.get(token);
    if (entry === undefined) return;
    this._subscribers.delete(token);
    const owner = entry.ref.deref();
    if (owner !== undefined) this._finalizer.unregister(owner);
    if (this._subscribers.size === 0) this.stop();
  }

  waitReady(prefix, ms) {
    if (this.ready) return Promise.resolve(true);
    if (this._stopped) return Promise.resolve(false);
    const deadline = Date.now() + ms;
    return new Promise((resolve) => {
      const check = () => {
        if (this.ready) resolve(true);
        else if (this._stopped || Date.now() >= deadline) resolve(false);
        else setTimeout(check, 10).unref();
      };
      check();
    });
  }

  _dispatch(names) {
    for (const [token, { ref, callback }] of this._subscribers) {
      const owner = ref.deref();
      if (owner === undefined) this._subscribers.delete(token);
      else callback(owner, names);
    }
  }

  // A master's listener flushed (it lost its connection, or subscribed anew): pass it on, and
  // read the topology soon (a failover may be under way).
  _fromMaster(names) {
    this._dispatch(names);
    if (names === null && this._soon === null && !this._stopped) {
      this._soon = setTimeout(() => {
        this._soon = null;
        this._refresh();
      }, 100);
      this._soon.unref();
    }
  }

  async _refresh() {
    if (this._reading || this._stopped) return;
    this._reading = true;
    try {
      const masters = await readMasters(this.link, this.setupTimeout);
      if (masters === null || this._stopped) return;
      if (masters.join(',') === this.masters.join(',')) return;
      const first = this.masters.length === 0;
      this.masters = masters;
      for (const [a, l] of this.byMaster) {
        if (!masters.includes(a)) {
          this.byMaster.delete(a);
          l.stop();
        }
      }
      for (const a of masters) {
        if (this.byMaster.has(a)) continue;
        const i = a.lastIndexOf(':');
        const o = this.link.nodeOptions(a.slice(0, i), Number(a.slice(i + 1)));
        const make = () => {
          const { createClient } = loadRedis();
          return createClient({ ...o, RESP: 2, disableOfflineQueue: true });
        };
        const l = new Listener(make, this.setupTimeout, () => {});
        l.subscribe(this.prefix, this, (self, names) => self._fromMaster(names));
        this.byMaster.set(a, l);
      }
      if (!first) {
        this.topologyChanges++;
        this._dispatch(null); // writes the new masters served before now were not reported
      }
    } finally {
      this._reading = false;
    }
  }

  stop() {
    if (this._stopped) return;
    this._stopped = true;
    clearInterval(this._timer);
    if (this._soon !== null) clearTimeout(this._soon);
    for (const l of this.byMaster.values()) l.stop();
    this.byMaster.clear();
    this.release();
  }
}

// The process's cluster listener for this cluster and prefix (redis_coherence.js's listenerFor
// hands a ClusterLink here).
function clusterListenerFor(link, prefix, setupTimeout) {
  if (link.owned) {
    const id = `${link.url}\n${prefix}`;
    let found = clusterListeners.get(id);
    if (found === undefined) {
      found = new ClusterListener(link, prefix, setupTimeout, () => {
        if (clusterListeners.get(id) === found) clusterListeners.delete(id);
      });
      clusterListeners.set(id, found);
    }
    return found;
  }
  let byPrefix = clientClusterListeners.get(link.raw);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    clientClusterListeners.set(link.raw, byPrefix);
  }
  let found = byPrefix.get(prefix);
  if (found === undefined) {
    found = new ClusterListener(link, prefix, setupTimeout, () => {
      if (byPrefix.get(prefix) === found) byPrefix.delete(prefix);
    });
    byPrefix.set(prefix, found);
  }
  return found;
}

module.exports = { ClusterLink, ClusterListener, clusterListenerFor, slotOf, groupBySlot };
