'use strict';
// redis_link.js: the connection side of the Redis tier (redis.js): node-redis loaded on first
// use, the client options twincache makes a client with, and Link, the one node-redis client of
// a cache (made from `url` and made again after a failure, or the user's), with the pipelined
// read (docs/redis.md, "The read"). redis_cluster.js's ClusterLink is its twin for a Redis
// Cluster. Split out of redis.js by concern.
const env = require('./redis_envelope');
const { makeError, typeError } = require('./errors');

// ---- node-redis, loaded on first use ------------------------------------------------------------

let redisModule = null;
function loadRedis() {
  if (redisModule !== null) return redisModule;
  let mod;
  let version;
  try {
    mod = require('redis');
    version = require('redis/package.json').version;
  } catch (err) {
    if (err && err.code === 'MODULE_NOT_FOUND') {
      const e = new Error(
        'the Redis tier needs node-redis 5 or newer, an optional peer dependency: npm install redis',
      );
      e.code = 'ERR_TWINCACHE_REDIS_MISSING';
      throw e;
    }
    throw err;
  }
  if (Number(String(version).split('.')[0]) < 5) {
    const e = new Error(
      `the Redis tier needs node-redis 5 or newer (found ${version}): npm install redis@5`,
    );
    e.code = 'ERR_TWINCACHE_REDIS_MISSING';
    throw e;
  }
  redisModule = mod;
  return mod;
}

// node-redis's client options for a URL: twincache's timeouts, no offline queue, no automatic
// reconnection (a connection is made again by the next call the breaker lets through).
// `tls`: redis_tls.js's node:tls options (rediss:// URLs), or null.
function clientOptions(url, timeout, tls = null) {
  const socket = { connectTimeout: Math.max(1, Math.ceil(timeout)), reconnectStrategy: false };
  if (tls !== null) Object.assign(socket, tls);
  if (url.startsWith('rediss:')) socket[require('./redis_tls').tlsGuard()] = true;
  if (url.startsWith('unix:')) {
    const u = new URL(url);
    return {
      socket: { ...socket, path: decodeURIComponent(u.pathname) },
      disableOfflineQueue: true,
    };
  }
  return { url, socket, disableOfflineQueue: true };
}

// Whether err is Redis's WRONGTYPE reply (GET of a name holding another type: a miss, as MGET's nil).
function isWrongType(err) {
  return (
    err instanceof Error && typeof err.message === 'string' && err.message.startsWith('WRONGTYPE')
  );
}

// Whether `client` is a node-redis RedisClient (one connection), not a pool or a cluster.
let clientClass;
function isPlainClient(client) {
  if (clientClass === undefined) {
    try {
      clientClass = require('@redis/client/dist/lib/client').default;
    } catch {
      clientClass = null; // another layout: get.lua for every client passed in
    }
  }
  return typeof clientClass === 'function' && client instanceof clientClass;
}

// ---- the link to Redis ----------------------------------------------------------------------------

// What Link and redis_cluster.js's ClusterLink share: the client passed in or made (and made again
// after a failure), node-redis's command options, ready() (one connect at a time), a command to one
// node and close(). A subclass makes its own client in _create() (its 'error' listened to) and may
// note what it learned once connected in _connected().
class BaseLink {
  constructor(client, timeout, tls) {
    this.timeout = timeout;
    this.tls = tls;
    this.owned = client === null;
    this.client = null;
    this.raw = client; // the user's, as given
    this.connecting = null;
    this.commandOptions = null;
    this.closed = false;
  }

  // node-redis's command options of every call: bulk strings as Buffers (envelopes are bytes).
  _options() {
    if (this.commandOptions === null) {
      const { RESP_TYPES } = loadRedis();
      this.commandOptions = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };
    }
    return this.commandOptions;
  }

  async ready() {
    if (this.closed) throw new Error('this RedisCache is closed');
    const c = this.now();
    if (c !== null) return c;
    if (this.connecting === null) {
      const connecting = this._connect().finally(() => {
        if (this.connecting === connecting) this.connecting = null;
      });
      this.connecting = connecting;
    }
    return this.connecting;
  }

  async _connect() {
    if (!this.owned) {
      const c = this.raw;
      if (!c.isOpen) await c.connect();
      this.client = c;
      return c;
    }
    this.drop();
    const c = this._create();
    this.client = c;
    await c.connect();
    this._connected(c);
    return c;
  }

  _connected() {}

  sendTo(node, args) {
    return node.sendCommand(args, this._options());
  }

  async close() {
    this.closed = true;
    const c = this.client;
    if (!this.owned || c === null) return;
    this.client = null;
    destroyQuietly(c);
  }
}

// Destroys a client that may already be closed.
function destroyQuietly(c) {
  try {
    c.destroy();
  } catch {
    // already closed
  }
}

// The node-redis client of one cache, made from `url` (and made again after a failure), or the one
// the user passed. ready() resolves once commands can be sent.
class Link extends BaseLink {
  constructor(url, client, timeout, tls = null) {
    super(client, timeout, tls);
    this.url = url;
    this.cluster = false;
    // Whether reads are GET/MGET + PTTL pipelined (a node-redis client: its commands go out in
    // call order on its one connection), else get.lua in one EVALSHA (a pool, a cluster or
    // another object: commands may not share a connection).
    this.pipelined = client === null || isPlainClient(client);
  }

  // The client if it is ready now, else null.
  now() {
    const c = this.client;
    return c !== null && c.isReady ? c : null;
  }

  _create() {
    const { createClient } = loadRedis();
    const c = createClient(clientOptions(this.url, this.timeout, this.tls));
    c.on('error', () => {}); // counted where a call fails; an unlistened 'error' would throw
    return c;
  }

  // Forgets a client that failed (an owned one is destroyed: its socket may be blackholed).
  drop(which = this.client) {
    const c = this.client;
    if (c === null || !this.owned || (which !== null && which !== c)) return;
    this.client = null;
    // A connect still under way on it is abandoned: the next call connects anew instead of
    // waiting for it (destroyed in its handshake, node-redis may never settle it).
    if (which === null) this.connecting = null;
    destroyQuietly(c);
  }

  send(client, args) {
    return client.sendCommand(args, this._options());
  }

  // clear()'s side (redis.js): the nodes to SCAN (this one client), a command to one of them, and
  // UNLINK of a batch of names.
  scanTargets(client) {
    return Promise.resolve([client]);
  }

  unlink(client, names) {
    return this.send(client, ['UNLINK', ...names]);
  }

  // The read (docs/redis.md, "The read"): GET name (MGET for several names), then PTTL of each
  // name, written in one tick: node-redis sends them back to back on its one connection, so one
  // round trip, and Redis runs them in that order. Resolves to [[value or null per name], PTTL
  // per name...]. A name holding another type is nil (MGET's answer; GET's WRONGTYPE reply).
  pipeline(client, names) {
    const o = this._options();
    const n = names.length;
    let values = null;
    let error = null;
    if (n === 1) {
      client.sendCommand(['GET', names[0]], o).then(
        (v) => {
          values = [v];
        },
        (err) => {
          if (isWrongType(err)) values = [null];
          else error = err;
        },
      );
      // PTTL's reply comes after GET's, so its reaction runs after GET's.
      return client.sendCommand(['PTTL', names[0]], o).then((t) => {
        if (error !== null) throw error;
        return [values, t];
      });
    }
    client.sendCommand(['MGET', ...names], o).then(
      (v) => {
        values = v;
      },
      (err) => {
        error = err;
      },
    );
    const ttls = new Array(n);
    for (let i = 0; i < n; i++) ttls[i] = client.sendCommand(['PTTL', names[i]], o);
    return Promise.all(ttls).then((t) => {
      if (error !== null) throw error;
      return [values, ...t];
    });
  }

  // A new connection for the invalidation listener (redis_coherence.js): RESP2 (invalidations as
  // pub/sub messages), no automatic reconnection (the listener re-subscribes), no offline queue.
  listenerClient() {
    const override = { RESP: 2, disableOfflineQueue: true };
    if (this.owned) {
      const o = clientOptions(this.url, this.timeout, this.tls);
      return loadRedis().createClient({ ...o, ...override });
    }
    // Its own socket options (host, port, TLS...) with reconnection off, where the client shows
    // them (else node-redis may reconnect it too: the listener drops it at its first error).
    const o = this.raw.options;
    return this.raw.duplicate({
      ...override,
      ...(o && o.socket ? { socket: { ...o.socket, reconnectStrategy: false } } : {}),
      clientSideCache: undefined, // RESP3 only
      emitInvalidate: undefined,
      maintNotifications: 'disabled',
      pingInterval: undefined,
    });
  }
}

// Whether `client` is a node-redis cluster client (createCluster()).
function isClusterClient(client) {
  return (
    client !== null &&
    typeof client === 'object' &&
    typeof client.nodeClient === 'function' &&
    typeof client.sendCommand === 'function' &&
    'masters' in client
  );
}

// The connection options of a RedisCache (url, client, cluster, tls), checked: { url (a string,
// or null with a client), urls (every seed), client, cluster, tls (node:tls options or null) }.
function connectionOptions(o) {
  const { tlsOption } = require('./redis_tls');
  const hasClient = o.client !== undefined && o.client !== null;
  if (o.cluster !== undefined && typeof o.cluster !== 'boolean') {
    throw typeError('cluster', 'a boolean', o.cluster);
  }
  if (hasClient) {
    if (o.url !== undefined && o.url !== null) {
      throw makeError('invalid_argument', 'pass url or client, not both');
    }
    if (typeof o.client !== 'object' || typeof o.client.sendCommand !== 'function') {
      throw typeError('client', 'a node-redis client (createClient())', o.client);
    }
    const isCluster = isClusterClient(o.client);
    if (o.cluster === true && !isCluster) {
      throw typeError(
        'client',
        'a node-redis cluster client (createCluster()) when cluster is true',
        o.client,
      );
    }
    if (o.cluster === false && isCluster) {
      throw makeError('invalid_argument', 'cluster: false with a cluster client (createCluster())');
    }
    tlsOption(o.tls, [], true);
    return { url: null, urls: [], client: o.client, cluster: isCluster, tls: null };
  }
  let urls;
  if (Array.isArray(o.url)) {
    if (o.cluster !== true) {
      throw typeError('url', 'a string (an array of seed URLs needs cluster: true)', o.url);
    }
    if (o.url.length === 0 || o.url.length > 1000) {
      throw makeError('out_of_range', `url must hold 1 to 1000 seed URLs (got ${o.url.length})`);
    }
    urls = o.url.map((u) => env.urlOption(u));
  } else {
    urls = [env.urlOption(o.url)];
  }
  if (o.cluster === true) {
    for (const u of urls) {
      if (u.startsWith('unix:')) {
        throw makeError('out_of_range', 'url must be redis:// or rediss:// with cluster: true');
      }
    }
    if (new Set(urls.map((u) => u.slice(0, u.indexOf(':')))).size > 1) {
      throw makeError(
        'out_of_range',
        'url: the seeds of a cluster must all be redis:// or all rediss://',
      );
    }
  }
  const tls = tlsOption(o.tls, urls, false);
  return { url: urls[0], urls, client: null, cluster: o.cluster === true, tls };
}

// The link of a RedisCache's checked options: a Link, or redis_cluster.js's ClusterLink.
function makeLink(o) {
  if (o.cluster) {
    const { ClusterLink } = require('./redis_cluster');
    return new ClusterLink(o.urls, o.client, o.timeout, o.tls);
  }
  return new Link(o.url, o.client, o.timeout, o.tls);
}

module.exports = {
  BaseLink,
  Link,
  destroyQuietly,
  makeLink,
  connectionOptions,
  loadRedis,
  clientOptions,
  isPlainClient,
  isClusterClient,
  isWrongType,
};
