'use strict';
// redis.js: the Redis tier for Node: `new RedisCache(options)` (the package's memory Cache as L1
// in front of Redis or Valkey as L2) and memoize(fn, { backend: 'redis' }) (memoizeRedis).
// docs/redis.md is the specification (names, envelope, scripts, TTL, breaker, stats) shared with
// Python; the wire format itself is redis_envelope.js.
//
// Never hangs the caller: every round trip is raced against `timeout` (milliseconds), nothing is
// retried or queued while offline, and a circuit breaker makes the cache L1-only after repeated
// failures until a probe finds Redis again. A failed or skipped L2 call is a counted miss (reads)
// or an L1-only write (writes), never a rejection.
//
// The client is node-redis (the `redis` package, 5 or newer), an optional peer dependency loaded
// on the first RedisCache; a client the user passes is used as it is.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const env = require('./redis_envelope');
const { makeError, typeError, formatDouble } = require('./errors');
const options = require('./options');
const { clock } = require('./clock');
const { Breaker, Call, Deadlines, TIMED_OUT, mapped } = require('./redis_timeouts');
const {
  makeLink,
  connectionOptions,
  loadRedis,
  isPlainClient,
  isWrongType,
} = require('./redis_link');

const MISS = Symbol('twincache.redis.miss');
const FAILED = Symbol('twincache.redis.failed'); // an L2 call that failed, timed out or was skipped
const UNDEFINED = Symbol('twincache.redis.undefined'); // `undefined` as an L1 value
const sameValue = (v) => v; // _fetchThen's `then` for _fetch: the value or MISS
const missUndefined = (v) => (v === MISS ? undefined : v); // for get(): a miss is undefined
const SCAN_COUNT = 1000; // SCAN's COUNT hint, and the size of one UNLINK batch
const NAME_MEMO_MAX = 4096; // string keys whose encoding and name are remembered
const L1_TTL_MAX = 4e12; // ms: the core's largest TTL (parse_ttl)
const OUTCOME_COUNTER = {
  corrupt: 'l2_corrupt',
  unreadable: 'l2_unreadable',
  other_key: 'l2_misses',
};
const COUNTERS = [
  'l2_hits',
  'l2_misses',
  'l2_corrupt',
  'l2_unreadable',
  'l2_errors',
  'l2_timeouts',
  'l2_skipped',
  'sets',
  'l2_sets',
  'deletes',
  'invalidations',
  'l1_flushes',
  'bytes_sent',
  'bytes_received',
];

// A cached rejection (negative caching, redis_memoize.js's cacheErrors) as L1 keeps it and _opened
// returns it: the record of docs/redis.md "Cached exceptions" (Node). toError() makes the Error a
// hit rejects with: a fresh one each time, with the stored name, message and code.
class CachedError {
  constructor(name, message, code) {
    this.name = name;
    this.message = message;
    this.code = code;
  }

  static of(err) {
    const e = err instanceof Error ? err : new Error(String(err));
    return new CachedError(
      typeof e.name === 'string' ? e.name : 'Error',
      String(e.message),
      typeof e.code === 'string' ? e.code : undefined,
    );
  }

  // The JSON record stored with flag 0x02 (docs/redis.md, "Cached exceptions").
  record() {
    const r = { name: this.name, message: this.message };
    if (this.code !== undefined) r.code = this.code;
    return r;
  }

  // The CachedError of a decoded record, or null when it is not Node's record.
  static fromRecord(r) {
    if (r === null || typeof r !== 'object' || typeof r.message !== 'string') return null;
    if (typeof r.name !== 'string') return null;
    if (r.code !== undefined && typeof r.code !== 'string') return null;
    return new CachedError(r.name, r.message, r.code);
  }

  toError() {
    const e = new Error(this.message);
    if (this.name !== 'Error') {
      Object.defineProperty(e, 'name', {
        value: this.name,
        writable: true,
        configurable: true,
      });
    }
    if (this.code !== undefined) e.code = this.code;
    return e;
  }
}

let script = null; // { source, sha }
function getScript() {
  if (script !== null) return script;
  const source = fs.readFileSync(
    path.join(__dirname, '..', '..', 'redis', 'lua', 'get.lua'),
    'utf8',
  );
  script = { source, sha: crypto.createHash('sha1').update(source, 'utf8').digest('hex') };
  return script;
}

// ---- options ------------------------------------------------------------------------------------

const CACHE_OPTIONS = [
  'url',
  'client',
  'namespace',
  'ttl',
  'codec',
  'secret',
  'l1',
  'timeout',
  'breakerThreshold',
  'breakerDelay',
  'ttlJitter',
  'coherent',
  'cluster',
  'tls',
];
const L1_OPTIONS = ['max', 'maxBytes'];

function checkNames(o, allowed, what = 'options') {
  if (o === undefined) return {};
  if (o === null || typeof o !== 'object' || Array.isArray(o))
    throw typeError(what, 'an object', o);
  for (const name of Object.keys(o)) {
    if (!allowed.includes(name)) {
      throw makeError(
        'invalid_argument',
        `${what} must only name ${allowed.join(', ')} (got '${name}')`,
      );
    }
  }
  return o;
}

function thresholdOption(value) {
  if (value === undefined) return 5;
  const range = 'an integer in [1, 1000000]';
  if (typeof value !== 'number') throw typeError('breakerThreshold', range, value);
  if (!(Number.isInteger(value) && value >= 1 && value <= 1000000)) {
    throw makeError(
      'out_of_range',
      `breakerThreshold must be ${range} (got ${formatDouble(value)})`,
    );
  }
  return value;
}

function delayOption(value) {
  if (value === undefined) return [100, 10000];
  const ok =
    Array.isArray(value) &&
    value.length === 2 &&
    typeof value[0] === 'number' &&
    typeof value[1] === 'number' &&
    value[0] > 0 &&
    value[0] <= value[1] &&
    value[1] <= 3600000;
  if (!ok) {
    const got = Array.isArray(value) ? `[${value.map(String).join(', ')}]` : String(value);
    throw makeError(
      Array.isArray(value) ? 'out_of_range' : 'invalid_argument',
      `breakerDelay must be a [min, max] pair of milliseconds, 0 < min <= max <= 3600000 (got ${got})`,
    );
  }
  return [value[0], value[1]];
}

function fractionOption(name, value) {
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw typeError(name, 'a number in [0, 1)', value);
  if (!(value >= 0 && value < 1)) {
    throw makeError(
      'out_of_range',
      `${name} must be a number in [0, 1) (got ${formatDouble(value)})`,
    );
  }
  return value;
}

// A TTL in ms (options.ttl's checks and messages) -> whole ms for PX, rounded up; 0: none.
function pxOf(ms) {
  return ms === 0 ? 0 : Math.max(1, Math.ceil(ms));
}

// Every option of a RedisCache, checked, before anything is sent. `scope`: a function's.
function cacheOptions(o) {
  o = checkNames(o, CACHE_OPTIONS);
  const l1 = checkNames(o.l1, L1_OPTIONS, 'l1');
  const namespace = env.namespaceOption(o.namespace);
  const ttl = options.cacheOptions({ ttl: o.ttl }).ttl;
  const codec = env.codecOption(o.codec);
  const timeout = env.timeoutOption(o.timeout);
  const threshold = thresholdOption(o.breakerThreshold);
  const delay = delayOption(o.breakerDelay);
  const ttlJitter = fractionOption('ttlJitter', o.ttlJitter);
  const l1Max = options.cacheOptions({ max: l1.max === undefined ? 10000 : l1.max }).max;
  const l1MaxBytes = options.cacheOptions({ maxBytes: l1.maxBytes }).maxBytes;
  const secret = env.secretOption(o.secret, codec);
  if (o.coherent !== undefined && typeof o.coherent !== 'boolean') {
    throw typeError('coherent', 'a boolean', o.coherent);
  }
  const conn = connectionOptions(o); // url, client, cluster, tls (redis_link.js)
  return {
    namespace,
    ttl,
    codec,
    timeout,
    threshold,
    delay,
    ttlJitter,
    l1Max,
    l1MaxBytes,
    secret,
    ...conn,
    coherent: o.coherent, // undefined: on when possible (a url, a node-redis client or cluster)
  };
}

// ---- RedisCache -----------------------------------------------------------------------------------

// The key of a RedisCache entry: its encoding, that as a latin1 string (L1's key), and its name.
class EntryKey {
  constructor(encoded, name) {
    this.encoded = encoded;
    this.l1 = encoded.latin1Slice();
    this.name = name;
  }
}

class RedisCache {
  constructor(opts, internal) {
    const o = cacheOptions(opts);
    this._namespace = o.namespace;
    this._scope = internal === undefined ? null : internal.scope;
    this._ttl = o.ttl; // ms, 0: none
    this._codec = o.codec;
    this._timeout = o.timeout;
    this._ttlJitter = o.ttlJitter;
    this._secret = o.secret;
    this._breaker = new Breaker(o.threshold, o.delay[0], o.delay[1]);
    loadRedis();
    this._link = makeLink(o); // a Link, or a ClusterLink (redis_cluster.js)
    this._deadlines = new Deadlines(o.timeout);
    const { Cache } = require('./index');
    this._weight = 0; // the weight of the value being put in L1 (its payload's size)
    const l1Options = { max: o.l1Max };
    if (o.l1MaxBytes !== Infinity) {
      l1Options.maxBytes = o.l1MaxBytes;
      l1Options.sizeOf = () => this._weight;
    }
    this._l1 = new Cache(l1Options);
    this._names = new Map(); // string key -> EntryKey
    this._script = getScript();
    this._readErrors = false; // whether flag-0x02 entries are read (memoize with cacheErrors)
    // A memoized function's freshness (stale, earlyRefresh: redis_memoize.js), or null: then L1
    // holds its records and reads resolve to them.
    this._fresh = null;
    this._counts = {};
    for (const c of COUNTERS) this._counts[c] = 0;
    this._coh = null; // redis_coherence.js's Coherence when coherent
    // On unless `coherent: false`; `coherent: true` with a client of another kind throws, the
    // default turns it off, with the reason in stats().coherence.
    this._coherence = 'off';
    if (o.coherent !== false) {
      if (!this._link.owned && !this._link.cluster && !isPlainClient(o.client)) {
        if (o.coherent === true) {
          throw makeError(
            'invalid_argument',
            'coherent: true needs a url or a node-redis client (createClient())',
          );
        }
        this._coherence =
          'off: the client passed in is not a node-redis client (createClient()), ' +
          'which coherence needs to make its connection';
      } else {
        const { Coherence } = require('./redis_coherence');
        this._coh = new Coherence(
          this,
          this._link,
          o.namespace,
          o.l1Max,
          Math.max(2000, 4 * o.timeout),
          o.timeout,
        );
        this._coherence = 'on';
      }
    }
  }

  // Whether the invalidation listener is subscribed (waiting up to `ms`); until it is, a coherent
  // cache keeps L1 entries 1 s at most. False when not coherent.
  waitCoherent(ms) {
    return this._coh === null ? Promise.resolve(false) : this._coh.waitReady(ms);
  }

  get namespace() {
    return this._namespace;
  }

  // ---- keys and names ----

  _entryKey(key) {
    if (typeof key === 'string') {
      let k = this._names.get(key);
      if (k === undefined) {
        const encoded = env.encodeEntryKey(key);
        k = new EntryKey(encoded, env.entryName(this._namespace, encoded, this._scope));
        if (this._names.size >= NAME_MEMO_MAX) this._names.clear();
        this._names.set(key, k);
      }
      return k;
    }
    const encoded = env.encodeEntryKey(key);
    return new EntryKey(encoded, env.entryName(this._namespace, encoded, this._scope));
  }

  // ---- the L2 call discipline ----

  _failed(err, used) {
    const c = this._counts;
    c.l2_errors++;
    if (err === TIMED_OUT) c.l2_timeouts++;
    const { ErrorReply } = loadRedis();
    if (ErrorReply !== undefined && err instanceof ErrorReply) {
      this._breaker.success(); // the server answered: an error of the command, not of Redis
    } else {
      this._link.drop(used); // a timed-out or broken connection is not used again
      this._breaker.failure();
    }
    return FAILED;
  }

  // op(client)'s result, or FAILED (counted) when the breaker is open, the call failed or it took
  // longer than `timeout` (connecting included). Never rejects. With `map`, map(that) instead
  // (a throw of map rejects): one promise layer fewer than a .then() on an L2 hit's path.
  _call(op, map = null) {
    if (this._coh !== null && this._coh.pending !== null) {
      // A coherent cache's first calls: after the listener's first attempt (bounded by timeout).
      return this._coh.pending.then(() => this._call(op, map));
    }
    if (!this._breaker.allow()) {
      this._counts.l2_skipped++;
      return mapped(FAILED, map);
    }
    const call = new Call(this, this._link.now(), map);
    let work;
    try {
      work =
        call.used !== null
          ? op(call.used)
          : this._link.ready().then((c) => {
              call.used = c;
              return op(c);
            });
    } catch (err) {
      return mapped(this._failed(err, call.used), map);
    }
    return new Promise((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
      this._deadlines.add(call);
      work.then(
        (result) => {
          if (!this._deadlines.end(call)) return; // timed out already
          this._breaker.success();
          call.settle(result);
        },
        (err) => {
          if (this._deadlines.end(call)) call.settle(this._failed(err, call.used));
        },
      );
    });
  }

  // The read of `names` as an op for _call, resolving to EXEC's reply shape: [[value or null per
  // name], PTTL per name...]. The pipeline on a node-redis client; get.lua on another kind.
  _read(names) {
    if (this._link.pipelined) return (client) => this._link.pipeline(client, names);
    return this._readScript(names);
  }

  // get.lua by its SHA-1 (EVALSHA); a server that lost it (restarted, SCRIPT FLUSH) gets its
  // source again (EVAL loads it), within the same call. Its flat reply (value, PTTL per name) is
  // reshaped as the transaction's.
  _readScript(names) {
    const n = String(names.length);
    const reshape = (flat) => {
      const out = [[]];
      for (let i = 0; i < names.length; i++) {
        out[0].push(flat[2 * i]);
        out.push(flat[2 * i + 1]);
      }
      return out;
    };
    return async (client) => {
      try {
        return reshape(await this._link.send(client, ['EVALSHA', this._script.sha, n, ...names]));
      } catch (err) {
        if (err && typeof err.message === 'string' && err.message.startsWith('NOSCRIPT')) {
          return reshape(await this._link.send(client, ['EVAL', this._script.source, n, ...names]));
        }
        throw err;
      }
    };
  }

  // ---- envelopes in and out ----

  // [envelope, payload size]; `fields`: the freshness fields (a memoized function's), or null.
  _seal(k, value, fields = null) {
    if (value instanceof CachedError) {
      const data = Buffer.from(JSON.stringify(value.record()), 'utf8');
      const sealed = env.seal(
        this._secret,
        k.name,
        k.encoded,
        env.CODEC_JSON,
        data,
        env.FLAG_ERROR,
      );
      return [sealed, data.length];
    }
    const [codec, data] = env.dumps(this._codec, value); // json may refuse: before any change
    return [env.seal(this._secret, k.name, k.encoded, codec, data, 0, true, fields), data.length];
  }

  // Coherent: `name` and `epoch` (when the read began; none for a write) decide whether it may.
  _l1Put(l1Key, value, ms, weight, name, epoch) {
    if (this._coh !== null) {
      const most = this._coh.admit(this, name, l1Key, epoch);
      if (most < 0) return;
      if (most !== Infinity) ms = ms > 0 ? Math.min(ms, most) : most;
    }
    this._weight = weight;
    try {
      // _setChecked: set() without reading an options object (ms is a number; the L1 has no ttl
      // of its own). Past the core's TTL range (4e12 ms), L1 keeps it that long.
      this._l1._setChecked(
        l1Key,
        value === undefined ? UNDEFINED : value,
        ms > 0 ? Math.min(ms, L1_TTL_MAX) : 0,
      );
    } catch {
      // heavier than l1.maxBytes: not kept in L1
    }
  }

  _l1Get(l1Key) {
    const v = this._l1.get(l1Key);
    if (v === undefined) return MISS;
    return v === UNDEFINED ? undefined : v;
  }

  // The value of a script reply (envelope, PTTL) for one key, put in L1 (under l1Key); else MISS.
  _opened(k, raw, pttl, started, l1Key = k.l1, epoch = undefined) {
    const counts = this._counts;
    if (raw === null || raw === undefined) {
      counts.l2_misses++;
      return MISS;
    }
    counts.bytes_received += raw.length;
    const opened = env.openEnvelope(this._secret, k.name, k.encoded, raw);
    if (typeof opened === 'string') {
      counts[OUTCOME_COUNTER[opened]]++;
      return MISS;
    }
    let value;
    try {
      if (opened.flags & env.FLAG_ERROR) {
        // A cached rejection: Node's record (json) where this cache reads them, else unreadable
        // (Python's records, a RedisCache, a function without cacheErrors).
        if (!this._readErrors || opened.codec !== env.CODEC_JSON) throw new Error('an error');
        value = CachedError.fromRecord(env.loads(env.CODEC_JSON, opened.data));
        if (value === null) throw new Error('not a record');
      } else {
        value = env.loads(opened.codec, opened.data);
      }
    } catch {
      counts.l2_unreadable++; // signed but not decodable here
      return MISS;
    }
    if (opened.fields !== null || (this._fresh !== null && !(value instanceof CachedError))) {
      return this._openedFresh(k, value, opened, pttl, started, l1Key, epoch);
    }
    counts.l2_hits++;
    // L1 keeps it no longer than Redis does (its PTTL minus the time the answer took to come;
    // PTTL -1: no expiry, -2: gone since GET read it) and no longer than this cache's ttl (the
    // PTTL is read just after the value: docs/redis.md, "The read").
    let remaining = this._ttl; // 0: none
    if (typeof pttl === 'number' && pttl !== -1) {
      if (pttl < 0) return value;
      const left = pttl - (clock.now() - started);
      if (left <= 0) return value;
      if (remaining === 0 || left < remaining) remaining = left;
    }
    this._l1Put(l1Key, value, remaining, opened.data.length, k.name, epoch);
    return value;
  }

  // _opened for an entry with freshness fields, or read by a function with stale or earlyRefresh
  // (docs/redis.md, "Freshness"). It is fresh while its PTTL exceeds its stale window (Redis's
  // clock decides, no host's), then stale until it expires: only a function with `stale` takes it
  // then (as a record whose fresh time is over: its hit serves it and refreshes); to any other
  // reader it is a miss. A function with freshness gets a record, kept in L1 for what Redis has
  // left of the entry.
  _openedFresh(k, value, opened, pttl, started, l1Key, epoch) {
    const counts = this._counts;
    const fresh = this._fresh;
    const fields = opened.fields;
    const staleMs = fields === null ? 0 : fields[0];
    let remaining = Infinity; // ms Redis keeps it
    let freshLeft = Infinity; // ms it stays fresh
    let keep = true; // whether L1 may keep it (not when it left Redis between GET and PTTL)
    if (typeof pttl === 'number' && pttl !== -1) {
      keep = pttl >= 0;
      remaining = keep ? pttl - (clock.now() - started) : 0;
      freshLeft = remaining - staleMs;
    }
    // As in _opened: no fresher than this cache's ttl (the PTTL is read just after the value).
    if (this._ttl > 0 && freshLeft > this._ttl) {
      freshLeft = this._ttl;
      remaining = Math.min(remaining, this._ttl + staleMs);
    }
    const servesStale = fresh !== null && fresh.stale > 0;
    if (freshLeft <= 0 && !servesStale) {
      counts.l2_misses++; // in its stale window, for a reader that serves none
      return MISS;
    }
    counts.l2_hits++;
    const weight = opened.data.length;
    const name = k.name;
    if (fresh === null) {
      if (keep)
        this._l1Put(l1Key, value, freshLeft === Infinity ? 0 : freshLeft, weight, name, epoch);
      return value;
    }
    const rec = fresh.record(value, freshLeft, fields === null ? 0 : fields[1] / 1000);
    if (!keep) return rec;
    if (remaining === Infinity) this._l1Put(l1Key, rec, 0, weight, name, epoch);
    else if (remaining > 0) {
      this._l1Put(l1Key, rec, servesStale ? remaining : freshLeft, weight, name, epoch);
    }
    return rec;
  }

  // ttl x (1 - ttlJitter x U[0, 1)), whole ms, at least 1: never longer than asked.
  _jitter(px) {
    if (px === 0 || this._ttlJitter === 0) return px;
    return Math.max(1, Math.floor(px * (1 - this._ttlJitter * Math.random())));
  }

  _setTtl(setOptions) {
    return setOptions === undefined ? this._ttl : options.setTtl(setOptions, this._ttl);
  }

  // ---- reads ----

  // The L2 read of one entry: its value (put in L1), else MISS.
  _fetch(k, l1Key = k.l1) {
    return this._fetchThen(k, l1Key, sameValue, null);
  }

  // The same, resolving to then(value or MISS) in the read's own promise layer (no async
  // function, no .then(): each is a promise and a microtask on the L2 hit's path). fail(err), if
  // given, is called first when the read rejects (its envelope's decoding threw), as a .then()'s
  // second callback would be.
  _fetchThen(k, l1Key, then, fail) {
    if (this._coh !== null && this._coh.pending !== null) {
      // Epoch noted after.
      return this._coh.pending.then(() => this._fetchThen(k, l1Key, then, fail));
    }
    const started = clock.now();
    const epoch = this._coh === null ? undefined : this._coh.epoch;
    return this._callGet(k.name, (raw, pttl) => {
      this._counts.bytes_sent += k.name.length;
      if (raw === FAILED) return then(MISS);
      let v;
      try {
        v = this._opened(k, raw, pttl, started, l1Key, epoch);
      } catch (err) {
        if (fail !== null) fail(err);
        throw err;
      }
      return then(v);
    });
  }

  // _call(this._read([name]), ...) for one name, map(value or null, PTTL) (or map(FAILED)). On a
  // node-redis client that is ready, the pipeline written here: GET and PTTL sent in one tick,
  // the caller's promise settled from PTTL's reaction (GET's came first: its reply comes first),
  // without the op's promise layer and the reply's arrays; the same breaker, deadline, counts and
  // error handling as _call. Else (connecting, a cluster, a client of another kind) _call.
  _callGet(name, map) {
    const link = this._link;
    const client = link.cluster || !link.pipelined ? null : link.now();
    if (client === null || (this._coh !== null && this._coh.pending !== null)) {
      return this._call(this._read([name]), (reply) =>
        reply === FAILED ? map(FAILED) : map(reply[0][0], reply[1]),
      );
    }
    if (!this._breaker.allow()) {
      this._counts.l2_skipped++;
      return mapped(FAILED, map);
    }
    const o = link._options();
    let get, pttl;
    try {
      get = client.sendCommand(['GET', name], o);
      pttl = client.sendCommand(['PTTL', name], o);
    } catch (err) {
      return mapped(this._failed(err, client), map);
    }
    const call = new Call(this, client, map);
    let value = null; // stays null for a name holding another type (WRONGTYPE: MGET's nil)
    let error = null;
    get.then(
      (v) => {
        value = v;
      },
      (err) => {
        if (!isWrongType(err)) error = err;
      },
    );
    return new Promise((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
      this._deadlines.add(call);
      pttl.then(
        (t) => {
          if (!this._deadlines.end(call)) return; // timed out already
          if (error !== null) {
            call.settle(this._failed(error, client));
            return;
          }
          this._breaker.success();
          call.settle(value, t);
        },
        (err) => {
          if (this._deadlines.end(call)) call.settle(this._failed(err, client));
        },
      );
    });
  }

  async _get(key) {
    const k = this._entryKey(key);
    const v = this._l1Get(k.l1);
    if (v !== MISS) return v;
    return this._fetch(k);
  }

  // The value, or undefined (a miss: not in L1, not in Redis, unreadable, or Redis unreachable).
  get(key) {
    let k;
    try {
      k = this._entryKey(key);
    } catch (err) {
      return Promise.reject(err);
    }
    const v = this._l1Get(k.l1);
    if (v !== MISS) return Promise.resolve(v);
    return this._fetchThen(k, k.l1, missUndefined, null);
  }

  async has(key) {
    let k;
    try {
      k = this._entryKey(key);
    } catch {
      return false;
    }
    if (this._l1Get(k.l1) !== MISS) return true;
    return (await this._fetch(k)) !== MISS;
  }

  // A Map of the keys found: L1 first, then one read (one round trip) for the rest.
  async getMany(keys) {
    if (keys === null || typeof keys !== 'object' || typeof keys[Symbol.iterator] !== 'function') {
      throw typeError('keys', 'an iterable of keys', keys);
    }
    const found = new Map();
    const wanted = [];
    for (const key of keys) {
      const k = this._entryKey(key);
      const v = this._l1Get(k.l1);
      if (v !== MISS) found.set(key, v);
      else wanted.push([key, k]);
    }
    if (wanted.length === 0) return found;
    const names = wanted.map((w) => w[1].name);
    if (this._coh !== null && this._coh.pending !== null) await this._coh.pending; // see _call
    const started = clock.now();
    const epoch = this._coh === null ? undefined : this._coh.epoch;
    const reply = await this._call(this._read(names));
    for (const n of names) this._counts.bytes_sent += n.length;
    if (reply === FAILED) return found;
    for (let i = 0; i < wanted.length; i++) {
      const [key, k] = wanted[i];
      const v = this._opened(k, reply[0][i], reply[1 + i], started, k.l1, epoch);
      if (v !== MISS) found.set(key, v);
    }
    return found;
  }

  // Get-or-load (the memory Cache's fetch, across processes): the value of key; on a miss one call
  // of loader(key) for every concurrent fetch of the key in this process and, through a lease in
  // Redis, in every process (docs/redis.md, "Single flight across processes"); its result is
  // stored with { ttl } (ms; default the cache's). { lease } (ms, default 10000): how long a
  // leader that died holds the others up.
  fetch(key, loader, fetchOptions) {
    if (typeof loader !== 'function')
      return Promise.reject(typeError('loader', 'a function', loader));
    let k;
    let ttl;
    let lease;
    try {
      const o = checkNames(fetchOptions, ['ttl', 'lease'], 'fetch options');
      ttl = this._setTtl(o.ttl === undefined ? undefined : { ttl: o.ttl });
      lease = require('./redis_flight').leaseOption(o.lease);
      k = this._entryKey(key);
    } catch (err) {
      return Promise.reject(err);
    }
    const v = this._l1Get(k.l1);
    if (v !== MISS) return Promise.resolve(v);
    if (this._loads === undefined) this._loads = new Map(); // entry key (latin1) -> pending load
    const pending = this._loads.get(k.l1);
    if (pending !== undefined) return pending;
    const load = (async () => {
      const hit = await this._fetch(k);
      if (hit !== MISS) return hit;
      const compute = async () => {
        const value = await loader(key);
        await this._setEntry(k, value, ttl);
        return value;
      };
      return (await require('./redis_flight').lead(this, k, k.l1, lease, compute)).value;
    })();
    this._loads.set(k.l1, load);
    const forget = () => {
      if (this._loads.get(k.l1) === load) this._loads.delete(k.l1);
    };
    load.then(forget, forget);
    return load;
  }

  // ---- writes ----

  // Stores value under key in L1 and Redis; { ttl } (ms) overrides the default. Resolves to
  // whether Redis took it (false: L1 only).
  async set(key, value, setOptions) {
    const ttl = this._setTtl(setOptions);
    const k = this._entryKey(key);
    return this._setEntry(k, value, ttl);
  }

  // `delta`: the ms the value took to compute (a memoized function's, for earlyRefresh).
  async _setEntry(k, value, ttl, l1Key = k.l1, delta = 0) {
    let envelope, px;
    if (this._fresh !== null && ttl !== 0 && !(value instanceof CachedError)) {
      [envelope, px] = this._sealFresh(k, value, ttl, l1Key, delta);
    } else {
      let weight;
      [envelope, weight] = this._seal(k, value);
      px = this._jitter(pxOf(ttl));
      this._l1Put(l1Key, value, px === 0 ? 0 : px === pxOf(ttl) ? ttl : px, weight, k.name);
    }
    const c = this._counts;
    c.sets++;
    const args = px === 0 ? ['SET', k.name, envelope] : ['SET', k.name, envelope, 'PX', String(px)];
    const ok = await this._call((client) => this._link.send(client, args));
    c.bytes_sent += k.name.length + envelope.length;
    if (ok === FAILED) return false;
    c.l2_sets++;
    return true;
  }

  // A memoized function's value with freshness: the envelope with the freshness fields, for its
  // jittered TTL plus its stale window (PX), and its record in L1. [envelope, PX].
  _sealFresh(k, value, ttl, l1Key, delta) {
    const fresh = this._fresh;
    const [envelope, weight] = this._seal(k, value, [fresh.staleMs, delta * 1000]);
    const life = this._jitter(pxOf(ttl));
    const px = life + fresh.staleMs;
    this._l1Put(
      l1Key,
      fresh.record(value, life === pxOf(ttl) ? ttl : life, delta),
      px,
      weight,
      k.name,
    );
    return [envelope, px];
  }

  // Stores every entry (a Map, an iterable of [key, value] pairs, or a plain object) in one
  // pipelined round trip of SET ... PX. Every value is encoded first: a refusal changes nothing.
  async setMany(entries, setOptions) {
    const ttl = this._setTtl(setOptions);
    let pairs;
    if (entries instanceof Map || (entries && typeof entries[Symbol.iterator] === 'function')) {
      pairs = [...entries];
    } else if (entries !== null && typeof entries === 'object') {
      pairs = Object.entries(entries);
    } else {
      throw typeError('entries', 'a Map, an iterable of [key, value] pairs or an object', entries);
    }
    const sealed = pairs.map((p) => {
      if (!Array.isArray(p) || p.length !== 2)
        throw typeError('entries item', 'a [key, value] pair', p);
      const k = this._entryKey(p[0]);
      return [k, p[1], ...this._seal(k, p[1])];
    });
    if (sealed.length === 0) return true;
    const c = this._counts;
    const commands = [];
    for (const [k, value, envelope, weight] of sealed) {
      const px = this._jitter(pxOf(ttl));
      this._l1Put(k.l1, value, px === 0 ? 0 : px === pxOf(ttl) ? ttl : px, weight, k.name);
      commands.push(
        px === 0 ? ['SET', k.name, envelope] : ['SET', k.name, envelope, 'PX', String(px)],
      );
      c.bytes_sent += k.name.length + envelope.length;
    }
    c.sets += sealed.length;
    // Sent in one tick: node-redis writes them back to back (a pipeline, no MULTI).
    const ok = await this._call((client) =>
      Promise.all(commands.map((a) => this._link.send(client, a))),
    );
    if (ok === FAILED) return false;
    c.l2_sets += sealed.length;
    return true;
  }

  async _deleteEntry(k, l1Key = k.l1) {
    const inL1 = this._l1.delete(l1Key);
    const removed = await this._call((client) => this._link.send(client, ['UNLINK', k.name]));
    this._counts.deletes++;
    return inL1 || (removed !== FAILED && removed > 0);
  }

  // Removes key from L1 and Redis; resolves to whether either had it.
  delete(key) {
    return this._deleteEntry(this._entryKey(key));
  }

  // ---- the namespace ----

  _pattern() {
    return `${this._namespace}:` + (this._scope === null ? '' : `${this._scope}:`) + '*';
  }

  // Removes this namespace's entries (SCAN MATCH <namespace>:* + UNLINK in batches, never KEYS;
  // other namespaces are untouched) and empties L1. Each round trip has its own timeout.
  // Resolves to how many Redis entries went (or -1 when Redis could not be reached).
  async clear() {
    this._l1.clear();
    if (this._coh !== null) this._coh.cleared();
    const pattern = this._pattern();
    // Every node that holds entries: the one server, or each master of a cluster.
    const nodes = await this._call((client) => this._link.scanTargets(client));
    if (nodes === FAILED) return -1;
    let removed = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const scan = ['SCAN', cursor, 'MATCH', pattern, 'COUNT', String(SCAN_COUNT)];
        const reply = await this._call(() => this._link.sendTo(node, scan));
        if (reply === FAILED) return -1;
        cursor = String(reply[0]);
        const names = reply[1];
        for (let i = 0; i < names.length; i += SCAN_COUNT) {
          const batch = names.slice(i, i + SCAN_COUNT); // UNLINK by slot on a cluster
          const n = await this._call((client) => this._link.unlink(client, batch));
          if (n === FAILED) return -1;
          removed += n;
        }
      } while (cursor !== '0');
    }
    return removed;
  }

  // ---- the rest ----

  // Counters of this cache object (docs/redis.md, Stats).
  stats() {
    const l1 = this._l1.stats();
    const c = this._counts;
    const b = this._breaker;
    return {
      hits: l1.hits + c.l2_hits,
      misses: l1.misses - c.l2_hits,
      l1_hits: l1.hits,
      l1_misses: l1.misses,
      l1_items: l1.items,
      l1_bytes: l1.bytes,
      ...c,
      breaker: b.state,
      breaker_opened: b.opened,
      reconnects: b.recoveries,
      coherence: this._coherence,
    };
  }

  // Closes the client this cache made (a client passed in stays open). Never waits on Redis.
  async close() {
    if (this._coh !== null) this._coh.close();
    await this._link.close();
  }
}

module.exports = {
  RedisCache,
  // memoize(fn, { backend: 'redis' }) lives in redis_memoize.js, loaded when first used.
  memoizeRedis: (fn, opts) => require('./redis_memoize').memoizeRedis(fn, opts),
  Breaker,
  // For redis_memoize.js.
  CachedError,
  EntryKey,
  MISS,
  UNDEFINED,
  checkNames,
};
