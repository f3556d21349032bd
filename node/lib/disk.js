'use strict';
// disk.js: the persistent tier for Node. `new DiskCache({ path, maxBytes, ttl, codec })` and
// `memoizeDisk(fn, options)` (memoize(fn, { backend: 'disk' }) in the package) over the C++
// disk_store (core/include/twincache/disk_store.hpp): one SQLite database per cache directory,
// shared with other processes and with Python (docs/persistence.md).
//
// The API is synchronous, as SQLite is: get/set/has/delete/clear return their results, not
// promises (fetch() and async memoized functions return promises because their loaders do).
//
// The disk addon (twincache_disk.napi.node) is separate from the memory cache's addon and is
// loaded here lazily, the first time a DiskCache is made. Where it cannot load (no binary for
// the platform, a missing libsqlite3.so.0, or TWINCACHE_PURE=1: Node 20 has no built-in SQLite),
// and where the directory cannot be used, DiskCache keeps working in memory only, with one
// warning (code TWINCACHE_DISK_UNAVAILABLE) and `persistent === false`: never a crash.
//
// Keys are encoded with the shared key encoding (keys.js, docs/keys.md), so a string key is the
// same entry for Python's DiskCache. Values: codec 'json' (JSON text, readable by Python with
// codec="json") or 'v8' (v8.serialize: Maps, Dates, Buffers, typed arrays..., Node only).
const crypto = require('node:crypto');
const os = require('node:os');
const path = require('node:path');
const v8 = require('node:v8');
const { encodeKey } = require('./keys');
const { makeError, typeError, describe } = require('./errors');
const tcarray = require('./tcarray');
const { pureRequested } = require('./binding');
const options = require('./options');
const { Cache: PureCache } = require('./cache');
const { clock, testing: clockTesting } = require('./clock');

const DISK_ABI = 2; // 2: set() takes tags and meta (node/src/disk_addon.cpp)
const CODEC_RAW = 0;
const CODECS = { json: 2, v8: 3 };
const L1_MAX_BYTES = 64 * 1024 * 1024;
const COMPRESS_THRESHOLD = 4096;
const MISS = Symbol('miss');

// The wall clock (ms) the disk tier's expiry reads: Date.now(), or the tests' manual time (which
// _testing.useManualClock sets for this file's addon and clock.js together).
let manualWall = false;
function wallNow() {
  return manualWall ? clock.now() : Date.now();
}

// ---- the addon, loaded on first use -------------------------------------------------------------

let addonState = null; // { addon, why }

function diskAddon() {
  if (addonState !== null) return addonState;
  if (pureRequested()) {
    const why = `TWINCACHE_PURE=${process.env.TWINCACHE_PURE}`;
    addonState = { addon: null, why: `${why} (Node has no built-in SQLite before 22.5)` };
    return addonState;
  }
  const file = path.join(
    __dirname,
    '..',
    'prebuilds',
    `${process.platform}-${process.arch}`,
    'twincache_disk.napi.node',
  );
  try {
    const addon = require(file);
    if (addon.abi !== DISK_ABI) {
      throw new Error(`${file} has interface ${addon.abi}, this package needs ${DISK_ABI}`);
    }
    addonState = { addon, why: '' };
  } catch (err) {
    const why = err && err.code === 'MODULE_NOT_FOUND' ? `${file} is missing` : err.message;
    addonState = { addon: null, why };
  }
  return addonState;
}

const warned = new Set();
function warnOnce(where, message, code = 'TWINCACHE_DISK_UNAVAILABLE') {
  if (warned.has(where)) return;
  warned.add(where);
  process.emitWarning(message, { code });
}

// $TWINCACHE_DIR, else $XDG_CACHE_HOME/twincache, else ~/.cache/twincache.
function defaultDirectory() {
  const { addon } = diskAddon();
  if (addon !== null) return addon.defaultDirectory();
  if (process.env.TWINCACHE_DIR) return process.env.TWINCACHE_DIR;
  const xdg = process.env.XDG_CACHE_HOME;
  if (xdg && xdg.startsWith('/')) return `${xdg}/twincache`;
  return `${process.env.HOME || os.homedir() || '/tmp'}/.cache/twincache`;
}

// The addon's thrown statuses become the package's errors (errors.js), here and only here.
function call(fn) {
  try {
    return fn();
  } catch (err) {
    if (err && typeof err.statusName === 'string') {
      throw makeError(err.statusName, err.message);
    }
    throw err;
  }
}

// The memory-only store: the same interface as the addon's DiskStore, over the package's Cache.
class MemoryStore {
  constructor(where, maxBytes, ttlMs, warning) {
    this.path = where;
    this.persistent = false;
    this.warning = warning;
    this._cache = new PureCache({
      maxBytes: maxBytes === 0 ? undefined : maxBytes,
      ttl: ttlMs === 0 ? undefined : ttlMs,
      sizeOf: (entry) => entry[1].length + entry[2].length,
    });
    this._sets = 0;
  }
  // get(key, use = true): use false is a peek, [codec, bytes, expiryNs] (as the addon's).
  get(key, use = true) {
    if (use === false) {
      const id = key.latin1Slice();
      const e = this._cache.peek(id);
      if (e === undefined) return undefined;
      const left = this._cache.getRemainingTTL(id);
      return [e[0], Buffer.from(e[1]), left === Infinity ? 0 : (wallNow() + left) * 1e6];
    }
    const e = this._cache.get(key.latin1Slice());
    return e === undefined ? undefined : [e[0], Buffer.from(e[1])];
  }
  set(key, codec, value, ttlMs) {
    this._cache.set(
      key.latin1Slice(),
      [codec, Buffer.from(value), key],
      ttlMs ? { ttl: ttlMs } : undefined,
    );
    this._sets++;
  }
  erase(key) {
    return this._cache.delete(key.latin1Slice());
  }
  contains(key) {
    return this._cache.has(key.latin1Slice());
  }
  clear() {
    const n = this._cache.size;
    this._cache.clear();
    return n;
  }
  prune() {
    return this._cache.prune();
  }
  keys(expired = false) {
    if (expired) return []; // this cache drops expired entries itself (told as 'expired')
    return [...this._cache.entries()].map(([, e]) => e[2]);
  }
  count() {
    return this.keys().length;
  }
  stats() {
    const s = this._cache.stats();
    return {
      hits: s.hits,
      misses: s.misses,
      l1Hits: s.hits,
      sets: this._sets,
      rejected: s.rejected,
      evicted: s.evictions,
      expired: s.expirations,
      deleted: s.deleted,
      cleared: s.cleared,
      corrupt: 0,
      items: s.items,
      bytes: s.bytes,
    };
  }
  info() {
    return { path: this.path, items: this._cache.size, bytes: this._cache.stats().bytes };
  }
  dropL1() {}
  flush() {}
}

// Stores with writes that may still be queued, committed when the process exits (the addon's
// stores commit in the background, within milliseconds; see docs/persistence.md).
const liveStores = new Set();
let exitHook = false;
function track(store) {
  liveStores.add(new WeakRef(store));
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const ref of liveStores) {
        const s = ref.deref();
        if (s !== undefined) {
          try {
            s.flush();
          } catch {
            // exiting: nothing left to tell
          }
        }
      }
    });
  }
}

function openStore(where, maxBytes, ttlMs) {
  const dir = where === undefined ? defaultDirectory() : where;
  const { addon, why } = diskAddon();
  if (addon === null) {
    const warning =
      `twincache: the disk tier's native addon is not available (${why}); ` +
      'DiskCache caches in memory only';
    warnOnce('', warning); // once per process

    return new MemoryStore(dir, maxBytes === Infinity ? 0 : maxBytes, ttlMs, warning);
  }
  const store = call(
    () =>
      new addon.DiskStore(
        dir,
        maxBytes === Infinity ? 0 : maxBytes,
        ttlMs * 1e6,
        L1_MAX_BYTES,
        COMPRESS_THRESHOLD,
      ),
  );
  // A persistent store with a warning moved a damaged cache.db aside (docs/persistence.md).
  if (store.warning && store.persistent) {
    process.emitWarning(store.warning, { code: 'TWINCACHE_DISK_DAMAGED' });
  } else if (store.warning) {
    warnOnce(dir, store.warning);
  }
  if (store.persistent) track(store);
  return store;
}

// ---- values ---------------------------------------------------------------------------------------

function codecId(codec) {
  if (codec === undefined) return CODECS.v8;
  if (typeof codec !== 'string') throw typeError('codec', "'json' or 'v8'", codec);
  const id = CODECS[codec];
  if (id === undefined) {
    throw makeError('out_of_range', `codec must be 'json' or 'v8' (got '${codec}')`);
  }
  return id;
}

// [codec used, bytes]: Buffers are stored raw (codec 0), readable as bytes by Python too.
// Under codec 'json', TypedArrays go through the array codec tcarray/1 (read by Python as numpy
// arrays; ./tcarray.js).
function encodeValue(codec, value) {
  if (Buffer.isBuffer(value)) return [CODEC_RAW, value];
  if (codec === CODECS.json && tcarray.isTypedArray(value)) {
    return [tcarray.CODEC_ARRAY, tcarray.encodeArray(value)];
  }
  return [codec, dumps(codec, value)];
}

// [tags, meta JSON ('' : none)] of set()'s { tags, meta }: tags non-empty strings, meta a plain
// object of JSON values, at most 64 KiB as JSON (as Python's _disk_tags.py).
function checkTagging(tags, meta) {
  const list = tags === undefined ? [] : tags;
  if (!Array.isArray(list) || !list.every((t) => typeof t === 'string' && t !== '')) {
    throw typeError('tags', 'an array of non-empty strings', tags);
  }
  let text = '';
  if (meta !== undefined) {
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) {
      throw typeError('meta', 'a plain object', meta);
    }
    const why = jsonRefusal(meta, 'meta', []);
    if (why !== null)
      throw makeError('invalid_argument', `meta must hold JSON values only: ${why}`);
    text = JSON.stringify(meta);
    if (Buffer.byteLength(text) > 65536) {
      throw makeError('out_of_range', 'meta must be at most 65536 bytes as JSON');
    }
  }
  return [[...new Set(list)].sort(), text];
}

// What codec 'json' refuses, so that a value reads back equal, in Python as in Node (Python's
// json codec is as strict: python/twincache/_disk.py): null, booleans, strings, finite numbers,
// arrays and plain objects (string keys) only. JSON.stringify alone would turn NaN into null, a
// Map into {}, a Date into a string, drop undefined and functions, and throw on BigInt.
// Returns why the value cannot be stored, or null.
function jsonRefusal(value, where, stack) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : `${where} is ${value}`;
    case 'object':
      break;
    default:
      return `${where} is ${describe(value)}`;
  }
  if (value === null) return null;
  if (stack.includes(value)) return `${where} refers to itself (a cycle)`;
  const proto = Object.getPrototypeOf(value);
  if (Array.isArray(value) && proto === Array.prototype) {
    stack.push(value);
    for (let i = 0; i < value.length; i++) {
      const why =
        i in value ? jsonRefusal(value[i], `${where}[${i}]`, stack) : `${where}[${i}] is a hole`;
      if (why !== null) return why;
    }
    stack.pop();
    return null;
  }
  if (proto !== Object.prototype && proto !== null) {
    const name = (proto && proto.constructor && proto.constructor.name) || 'an object';
    return `${where} is a ${name}`;
  }
  if (Object.getOwnPropertySymbols(value).length > 0) return `${where} has symbol keys`;
  stack.push(value);
  for (const key of Object.keys(value)) {
    const why = jsonRefusal(value[key], `${where}.${key}`, stack);
    if (why !== null) return why;
  }
  stack.pop();
  return null;
}

function dumps(codec, value) {
  if (codec === CODECS.json) {
    const why = jsonRefusal(value, 'the value', []);
    if (why !== null) {
      throw makeError(
        'invalid_argument',
        `codec 'json' cannot store this value: ${why}; use codec 'v8'`,
      );
    }
    return Buffer.from(JSON.stringify(value), 'utf8');
  }
  try {
    return v8.serialize(value);
  } catch (err) {
    // A DataCloneError (a function, a symbol, a WeakMap...): the user's TypeError, with a code.
    throw makeError('invalid_argument', `codec 'v8' cannot store this value (${err.message})`);
  }
}

function loads(codec, data) {
  if (codec === CODEC_RAW) return data;
  if (codec === CODECS.json) return JSON.parse(data.toString('utf8'));
  if (codec === CODECS.v8) return v8.deserialize(data);
  if (codec === 1) {
    throw makeError('invalid_argument', 'this entry was stored by Python with codec "pickle"');
  }
  if (codec === tcarray.CODEC_ARRAY) return tcarray.decodeArray(data);
  if (codec === tcarray.CODEC_ARROW) {
    throw makeError(
      'invalid_argument',
      'this entry was stored by Python with codec "arrow" (a pandas object as Arrow IPC, codec 5), ' +
        'which Node does not read',
    );
  }
  throw makeError('invalid_argument', `this entry has an unknown codec (${codec})`);
}

// ---- keys back from their encoding (keys(), entries()) ----------------------------------------------

function decodeKey(buf) {
  let i = 1; // after the version byte
  function varint() {
    let n = 0;
    let mul = 1;
    for (;;) {
      const c = buf[i++];
      n += (c & 0x7f) * mul;
      if (c < 0x80) return n;
      mul *= 128;
    }
  }
  function value() {
    const tag = buf[i++];
    switch (tag) {
      case 0x00:
        return null;
      case 0x01:
        return false;
      case 0x02:
        return true;
      case 0x03:
      case 0x04: {
        const n = varint();
        let v = 0n;
        for (let k = 0; k < n; k++) v = (v << 8n) | BigInt(buf[i++]);
        if (tag === 0x04) v = -v;
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(v)
          : v;
      }
      case 0x05: {
        const v = buf.readDoubleLE(i);
        i += 8;
        return v;
      }
      case 0x06:
      case 0x07: {
        const n = varint();
        const s = buf.subarray(i, i + n);
        i += n;
        return tag === 0x06 ? s.toString('utf8') : Buffer.from(s);
      }
      case 0x08: {
        const n = varint();
        const out = [];
        for (let k = 0; k < n; k++) out.push(value());
        return out;
      }
      case 0x09: {
        const n = varint();
        const pairs = [];
        for (let k = 0; k < n; k++) pairs.push([value(), value()]);
        return pairs.every(([k]) => typeof k === 'string')
          ? Object.fromEntries(pairs)
          : new Map(pairs);
      }
      case 0x0a: {
        const n = varint();
        const out = new Set();
        for (let k = 0; k < n; k++) out.add(value());
        return out;
      }
      case 0x0b: {
        i += varint();
        const ndim = varint();
        for (let k = 0; k < ndim; k++) varint();
        const n = varint();
        const s = Buffer.from(buf.subarray(i, i + n));
        i += n;
        return s;
      }
      case 0x0c:
        return undefined;
      default:
        throw makeError('invalid_argument', `unknown key tag ${tag}`);
    }
  }
  return value();
}

// ---- DiskCache ----------------------------------------------------------------------------------------

const DISK_OPTIONS = ['path', 'maxBytes', 'ttl', 'codec'];

function diskOptions(o, extra = []) {
  if (o === undefined) o = {};
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    throw typeError('options', 'an object', o);
  }
  for (const name of Object.keys(o)) {
    if (!DISK_OPTIONS.includes(name) && !extra.includes(name)) {
      throw makeError(
        'invalid_argument',
        `options must only name ${[...DISK_OPTIONS, ...extra].join(', ')} (got '${name}')`,
      );
    }
  }
  if (o.path !== undefined && typeof o.path !== 'string') {
    throw typeError('path', 'a string', o.path);
  }
  // maxBytes and ttl: the same checks (and messages) as Cache's.
  const checked = options.cacheOptions({ maxBytes: o.maxBytes, ttl: o.ttl });
  return {
    path: o.path === undefined ? undefined : path.resolve(o.path),
    maxBytes: checked.maxBytes,
    ttl: checked.ttl,
    codec: codecId(o.codec),
  };
}

function keyBytes(key) {
  return encodeKey(key);
}

class DiskCache {
  constructor(opts) {
    const o = diskOptions(opts, ['dispose']);
    const dispose = options.optionalFunction(
      'dispose',
      opts === undefined ? undefined : opts.dispose,
    );
    this._codec = o.codec;
    this._budget = o.maxBytes; // for disk_dispose.js (Infinity: none)
    this._store = openStore(o.path, o.maxBytes, o.ttl);
    this._inflight = null;
    this._dispose = null; // dispose(value, key, reason) of a persistent store (disk_dispose.js)
    if (dispose !== undefined) require('./disk_dispose').attach(this, dispose);
  }

  // The directory, and whether entries really go there (false: memory only, see the warning).
  get path() {
    return this._store.path;
  }
  get persistent() {
    return this._store.persistent;
  }

  _lookup(key) {
    return this._lookupBytes(keyBytes(key));
  }

  _lookupBytes(k) {
    const store = this._store;
    if (this._dispose !== null) return this._dispose.read(k);
    const hit = call(() => store.get(k));
    return hit === undefined ? MISS : loads(hit[0], hit[1]);
  }

  get(key) {
    const v = this._lookup(key);
    return v === MISS ? undefined : v;
  }

  // The value without counting a hit or miss and without refreshing its recency.
  peek(key) {
    const hit = this._peekBytes(keyBytes(key));
    return hit === undefined ? undefined : loads(hit[0], hit[1]);
  }

  // Milliseconds left: 0 when absent or expired, Infinity without a TTL (as lru-cache's).
  getRemainingTTL(key) {
    const hit = this._peekBytes(keyBytes(key));
    if (hit === undefined) return 0;
    return hit[2] === 0 ? Infinity : hit[2] / 1e6 - wallNow();
  }

  // [codec, bytes, expiryNs] of a live entry, or undefined: a read that is not use.
  _peekBytes(k, expiredToo = false) {
    const store = this._store;
    const hit = call(() => store.get(k, false));
    if (hit === undefined || (!expiredToo && hit[2] !== 0 && hit[2] / 1e6 <= wallNow())) {
      return undefined;
    }
    return hit;
  }

  // set(key, value, { ttl, tags, meta }): ttl in milliseconds overrides the cache's default.
  // With tags or meta, the value, its tags and meta commit in one transaction before set()
  // returns (_setTagged). Returns this.
  set(key, value, setOptions) {
    let tagged;
    if (setOptions !== null && typeof setOptions === 'object' && !Array.isArray(setOptions)) {
      const { tags, meta, ...rest } = setOptions;
      if (tags !== undefined || meta !== undefined) tagged = checkTagging(tags, meta);
      setOptions = rest;
    }
    const ttl = options.setTtl(setOptions, 0);
    const k = keyBytes(key);
    const [codec, data] = encodeValue(this._codec, value);
    const write =
      tagged !== undefined && this._store.persistent
        ? () => this._setTagged(k, codec, data, ttl, tagged[0], tagged[1])
        : () => this._setBytes(k, codec, data, ttl);
    if (this._dispose !== null) this._dispose.set(k, write);
    else write();
    return this;
  }

  // A tagged set (docs/persistence.md, "Tags, metadata and queries"): the row, its tags and meta
  // go to the store's writer together and commit in one transaction of its batch; set() waits
  // for that batch (a flush), so it returns committed. If the batch rolled back (a tag that
  // cannot be written, a full disk), the directory keeps the old entry and its tags, the store's
  // memory tier forgets the new value (it holds it from the moment set() queued it), and the
  // batch's error is thrown (ERR_TWINCACHE_IO_ERROR). The other writes of that batch are lost
  // with it, as with any failed batch (docs/persistence.md, "Full disks").
  _setTagged(k, codec, data, ttl, tags, meta) {
    const store = this._store;
    call(() => store.set(k, codec, data, ttl * 1e6, tags, meta));
    this._dropLoad(k);
    try {
      call(() => store.flush());
    } catch (err) {
      store.dropL1();
      throw err;
    }
  }

  // ttl: ms, 0 for the cache's default.
  _setBytes(k, codec, data, ttl) {
    const store = this._store;
    call(() =>
      store.persistent ? store.set(k, codec, data, ttl * 1e6) : store.set(k, codec, data, ttl),
    );
    this._dropLoad(k);
  }

  // The live entries (with `tag`; whose meta has the fields of `where`), without loading values:
  // { key, size, created, expires (ms since the epoch, or null), tags, meta }, oldest access
  // first (docs/persistence.md, "Tags, metadata and queries"). A memory-only cache has none.
  query(queryOptions) {
    const o = queryOptions === undefined ? {} : queryOptions;
    if (o === null || typeof o !== 'object' || Array.isArray(o)) {
      throw typeError('query options', 'an object { tag, where }', o);
    }
    if (o.tag !== undefined && typeof o.tag !== 'string') {
      throw typeError('tag', 'a string', o.tag);
    }
    if (o.where !== undefined && (o.where === null || typeof o.where !== 'object')) {
      throw typeError('where', 'an object of meta fields', o.where);
    }
    const where = Object.entries(o.where || {}).map(([f, v]) => [
      '$.' + JSON.stringify(f),
      JSON.stringify(v),
    ]);
    const store = this._store;
    if (!store.persistent) return [];
    return call(() => store.query(o.tag || '', where)).map((r) => ({
      key: decodeKey(r[0]),
      size: r[1],
      created: r[2] ? r[2] / 1e6 : null,
      expires: r[3] ? r[3] / 1e6 : null,
      tags: r[5],
      meta: r[4] ? JSON.parse(r[4]) : {},
    }));
  }

  // Removes every entry tagged `tag`, in one transaction; returns how many.
  evict(tag) {
    if (typeof tag !== 'string' || tag === '') throw typeError('tag', 'a non-empty string', tag);
    const store = this._store;
    if (!store.persistent) return 0;
    if (this._dispose !== null) return this._dispose.evictTag(tag);
    return call(() => store.evictTag(tag));
  }

  // The newest write wins: a fetch() of this key in flight here no longer stores its result.
  _dropLoad(k) {
    if (this._inflight !== null) this._inflight.delete(k.latin1Slice());
  }

  has(key) {
    const store = this._store;
    return call(() => store.contains(keyBytes(key)));
  }

  delete(key) {
    const k = keyBytes(key);
    if (this._dispose !== null) return this._dispose.erase(k);
    return this._eraseBytes(k);
  }

  _eraseBytes(k) {
    const store = this._store;
    const erased = call(() => store.erase(k));
    this._dropLoad(k);
    return erased;
  }

  // Removes every entry of the directory (every process's and language's).
  clear() {
    const store = this._store;
    if (this._dispose !== null) this._dispose.clear();
    else call(() => store.clear());
    if (this._inflight !== null) this._inflight.clear();
  }

  // Waits until every write so far is committed to the directory (sets are committed in the
  // background, within milliseconds).
  flush() {
    if (this._dispose !== null) return this._dispose.flush();
    const store = this._store;
    call(() => store.flush());
  }

  // Removes expired entries and evicts down to maxBytes; returns how many went.
  prune() {
    const store = this._store;
    if (this._dispose !== null) return this._dispose.prune();
    return call(() => store.prune());
  }

  get size() {
    const store = this._store;
    return call(() => store.count());
  }

  *keys() {
    const store = this._store;
    for (const k of call(() => store.keys())) yield decodeKey(k);
  }

  *entries() {
    for (const k of this.keys()) {
      const v = this._lookup(k);
      if (v !== MISS) yield [k, v];
    }
  }

  [Symbol.iterator]() {
    return this.entries();
  }

  // This process's counters; items and bytes are the directory's.
  stats() {
    const store = this._store;
    const s = call(() => store.stats());
    return {
      hits: s.hits,
      misses: s.misses,
      l1Hits: s.l1Hits,
      sets: s.sets,
      rejected: s.rejected,
      evictions: s.evicted,
      expirations: s.expired,
      deleted: s.deleted,
      cleared: s.cleared,
      corrupt: s.corrupt,
      writeErrors: s.writeErrors || 0,
      items: s.items,
      bytes: s.bytes,
    };
  }

  // The directory's totals (every process's counts).
  info() {
    const store = this._store;
    return call(() => store.info());
  }

  // Get-or-load: one in-flight load per key in this process; its resolved value is stored unless
  // this DiskCache set, deleted or cleared the key meanwhile (the newest write wins).
  fetch(key, loader) {
    if (typeof loader !== 'function') throw typeError('loader', 'a function', loader);
    const v = this._lookup(key);
    if (v !== MISS) return Promise.resolve(v);
    if (this._inflight === null) this._inflight = new Map();
    const id = keyBytes(key).latin1Slice();
    const pending = this._inflight.get(id);
    if (pending !== undefined) return pending;
    const p = Promise.resolve()
      .then(() => loader(key))
      .then(
        (value) => {
          if (this._inflight.get(id) === p) {
            this._inflight.delete(id);
            this.set(key, value);
          }
          return value;
        },
        (err) => {
          if (this._inflight.get(id) === p) this._inflight.delete(id);
          throw err;
        },
      );
    this._inflight.set(id, p);
    return p;
  }
}

// ---- memoize(fn, { backend: 'disk' }) ---------------------------------------------------------------

// SHA-256 of the function's source with comments and whitespace removed (a space is kept only
// between two word characters), so editing the function stops old entries from being served and
// reformatting does not.
function normalizeSource(src) {
  let out = '';
  let i = 0;
  let pendingSpace = false;
  const word = (c) => /[A-Za-z0-9_$]/.test(c);
  while (i < src.length) {
    const c = src[i];
    const next = src[i + 1];
    if (c === '/' && next === '/') {
      while (i < src.length && src[i] !== '\n') i++;
      pendingSpace = true;
      continue;
    }
    if (c === '/' && next === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end === -1 ? src.length : end + 2;
      pendingSpace = true;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      if (pendingSpace && out.length && word(out[out.length - 1])) out += ' ';
      pendingSpace = false;
      out += src.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (/\s/.test(c)) {
      pendingSpace = true;
      i++;
      continue;
    }
    if (pendingSpace && out.length && word(out[out.length - 1]) && word(c)) out += ' ';
    pendingSpace = false;
    out += c;
    i++;
  }
  return out;
}

function sourceHash(fn) {
  return crypto
    .createHash('sha256')
    .update(normalizeSource(Function.prototype.toString.call(fn)))
    .digest('hex')
    .slice(0, 32);
}

function memoizeDisk(fn, opts) {
  if (typeof fn !== 'function') throw typeError('fn', 'a function', fn);
  const o = diskOptions(opts, ['backend', 'key', ...options.FRESH_OPTIONS]);
  const userKey = options.optionalFunction('key', opts === undefined ? undefined : opts.key);
  const fo = options.freshOptions({ ...opts, ttl: o.ttl });
  const records = fo.stale > 0 || fo.earlyRefresh > 0 || fo.cacheErrors !== undefined;
  if (fo.cacheErrors !== undefined && o.codec === CODECS.json) {
    throw makeError('invalid_argument', "cacheErrors needs codec 'v8' on disk (errors are kept)");
  }
  const cache = new DiskCache({
    path: o.path,
    maxBytes: o.maxBytes === Infinity ? undefined : o.maxBytes,
    ttl: o.ttl === 0 ? undefined : o.ttl,
    codec: o.codec === CODECS.json ? 'json' : 'v8',
  });
  const identity = [
    records ? 'twincache.fn/1+fresh' : 'twincache.fn/1',
    'node',
    fn.name || '',
    sourceHash(fn),
  ];
  const inflight = new Map();
  const counts = { hits: 0, misses: 0 };

  function keyOf(args) {
    const parts = userKey === undefined ? args : [userKey(...args)];
    return [...identity, parts];
  }

  // ttlJitter alone: plain entries, each with its own jittered TTL.
  const jitter = fo.ttlJitter > 0 && !records ? fo.ttlJitter : 0;
  const setOptions =
    jitter > 0 ? () => ({ ttl: require('./fresh').jittered(o.ttl, jitter) }) : () => undefined;
  // stale, earlyRefresh, cacheErrors: entries are freshness records (disk_fresh.js).
  const fresh = records
    ? require('./disk_fresh').freshCall(fn, { ...fo, ttl: o.ttl }, cache, keyOf, counts)
    : null;

  function memoized(...args) {
    if (fresh !== null) return fresh.call(this, args);
    const key = keyOf(args);
    // Stored as [isPromise, value]: a hit of a promise-returning function returns a promise.
    const hit = cache._lookup(key);
    if (hit !== MISS) {
      counts.hits++;
      return hit[0] ? Promise.resolve(hit[1]) : hit[1];
    }
    counts.misses++;
    const id = keyBytes(key).latin1Slice();
    const pending = inflight.get(id);
    if (pending !== undefined) return pending;
    const result = fn.apply(this, args);
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      const p = Promise.resolve(result).then(
        (value) => {
          inflight.delete(id);
          cache.set(key, [true, value], setOptions());
          return value;
        },
        (err) => {
          inflight.delete(id);
          throw err;
        },
      );
      inflight.set(id, p);
      return p;
    }
    cache.set(key, [false, result], setOptions());
    return result;
  }

  memoized.cache = cache;
  memoized.delete = (...args) => {
    if (fresh !== null) fresh.forget(keyOf(args));
    return cache.delete(keyOf(args));
  };
  // Removes this function's entries only (the directory may hold other functions' and keys).
  // Returns how many went.
  memoized.clear = () => {
    const empty = keyBytes([...identity, []]);
    const prefix = empty.subarray(0, empty.length - 2); // without the empty list's 08 00
    const store = cache._store;
    if (fresh !== null) fresh.forget();
    let n = 0;
    for (const k of call(() => store.keys())) {
      if (k.length >= prefix.length && k.subarray(0, prefix.length).equals(prefix)) {
        if (call(() => store.erase(k))) n++;
      }
    }
    return n;
  };
  memoized.stats = () => ({
    ...cache.stats(),
    hits: counts.hits,
    misses: counts.misses,
    ...(fresh === null ? {} : fresh.counts),
  });
  if (fresh !== null)
    Object.defineProperty(memoized, fresh.REFRESHING, { value: fresh.refreshing });
  return memoized;
}

// Test hooks (not API): the wall clock the disk addon reads for expiry, and the memory
// fallback's clock, moved together.
const _testing = {
  useManualClock(startMs) {
    const { addon } = diskAddon();
    if (addon !== null) addon.clockSetManual(startMs * 1e6);
    clockTesting.useManualClock(startMs);
    manualWall = true;
  },
  advance(ms) {
    const { addon } = diskAddon();
    if (addon !== null) addon.clockAdvance(ms * 1e6);
    clockTesting.advance(ms);
  },
  useRealClock() {
    const { addon } = diskAddon();
    if (addon !== null) addon.clockSetReal();
    clockTesting.useRealClock();
    manualWall = false;
  },
  diskAddon,
  normalizeSource,
  decodeKey,
};

module.exports = {
  DiskCache,
  memoizeDisk,
  defaultDirectory,
  _testing,
  // For the Redis tier (redis_envelope.js, redis.js): the same codecs and function identity.
  codecId,
  encodeValue,
  loads,
  decodeKey,
  sourceHash,
  // For disk_dispose.js and disk_fresh.js.
  MISS,
  call,
  wallNow,
  keyBytes,
};
