'use strict';
// redis_flight.js: single flight across processes for the Redis tier (docs/redis.md, "Single flight
// across processes"), the twin of python/twincache/_redis_flight.py. A cold key that many
// processes (Node or Python) miss at once is computed by one of them, the leader, which holds a
// lease in Redis (`SET <entry name>:lock <token> NX PX <lease>`), renews it while it computes
// (lock_extend.lua, compare-and-pexpire) and ends it once the value is stored (lock_release.lua,
// compare-and-delete). The others re-read the entry with capped exponential backoff plus jitter
// until the leader's value is there; when the lease ends without a value (the leader died, overran
// its lease or failed) the first waiter whose SET NX succeeds takes over. Redis unreachable (or the
// breaker open) = fail open: the caller computes locally.
//
// Used by memoize(fn, { backend: 'redis', singleFlight: true }) (redis_memoize.js) and
// RedisCache#fetch. Within a process the callers of one key already share one promise, so each
// process sends one caller's commands.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { makeError, typeError, formatDouble } = require('./errors');

const DEFAULT_LEASE = 10000; // ms; renewed every third of it while the leader computes
const MAX_LEASE = 3600000;
const BACKOFF = [5, 250]; // a waiter's first re-read delay (ms), and the cap of its doubling
const MAX_WAIT = 60000; // a waiter behind a leader that keeps renewing computes on its own after
const LOCK_SUFFIX = ':lock';
const FAILED = Symbol('twincache.flight.failed'); // Redis did not answer

// The lease of an entry: `<entry name>:lock` (under the namespace, and under a function's scope, so
// clear() removes the leases with the entries).
function lockName(entryName) {
  return entryName + LOCK_SUFFIX;
}

// `lease` in ms, in (0, 3600000]; undefined: the default.
function leaseOption(value) {
  if (value === undefined) return DEFAULT_LEASE;
  const range = `a number of milliseconds in (0, ${MAX_LEASE}]`;
  if (typeof value !== 'number') throw typeError('lease', range, value);
  if (!(value > 0 && value <= MAX_LEASE)) {
    throw makeError('out_of_range', `lease must be ${range} (got ${formatDouble(value)})`);
  }
  return Math.max(1, Math.ceil(value));
}

// One of redis/lua's scripts, called by EVALSHA and sent again by EVAL when the server does not
// have it (restarted, SCRIPT FLUSH).
class Script {
  constructor(file) {
    this.file = file;
    this.source = null;
    this.sha = '';
  }

  run(cache, client, key, args) {
    if (this.source === null) {
      this.source = fs.readFileSync(
        path.join(__dirname, '..', '..', 'redis', 'lua', this.file),
        'utf8',
      );
      this.sha = crypto.createHash('sha1').update(this.source, 'utf8').digest('hex');
    }
    const link = cache._link;
    return link.send(client, ['EVALSHA', this.sha, '1', key, ...args]).catch((err) => {
      if (err && typeof err.message === 'string' && err.message.startsWith('NOSCRIPT')) {
        return link.send(client, ['EVAL', this.source, '1', key, ...args]);
      }
      throw err;
    });
  }
}

const RELEASE = new Script('lock_release.lua');
const EXTEND = new Script('lock_extend.lua');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The entry's value (put in L1 under l1Key), the cache's MISS, or FAILED when Redis did not answer
// (the read's failure shows in the counters: l2_errors or l2_skipped).
async function read(cache, k, l1Key) {
  const c = cache._counts;
  const before = c.l2_errors + c.l2_skipped;
  const v = await cache._fetch(k, l1Key);
  if (v === MISS() && c.l2_errors + c.l2_skipped !== before) return FAILED;
  return v;
}

let missSymbol = null;
function MISS() {
  if (missSymbol === null) missSymbol = require('./redis').MISS;
  return missSymbol;
}

function call(cache, args) {
  return cache._call((client) => cache._link.send(client, args));
}

// Extends the lease every third of it until stopped or found lost; returns the stop function.
function renew(cache, lock, token, lease) {
  let stopped = false;
  const timer = setInterval(
    async () => {
      const kept = await cache._call((client) =>
        EXTEND.run(cache, client, lock, [token, String(lease)]),
      );
      if (kept === 0 && !stopped) {
        stopped = true; // taken over (or cleared): nothing left to renew
        clearInterval(timer);
      }
    },
    Math.max(1, Math.floor(lease / 3)),
  );
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

// { value, computed } for an entry this process missed: the leader's value read from Redis
// (computed false), or compute()'s result (true) when this caller led (compute stores it before
// the lease is released), took over, or Redis could not be asked (fail open).
async function lead(cache, k, l1Key, lease, compute) {
  const miss = MISS();
  const lock = lockName(k.name);
  const token = crypto.randomBytes(16).toString('hex');
  const giveUp = Date.now() + MAX_WAIT;
  let delay = BACKOFF[0];
  for (;;) {
    const got = await call(cache, ['SET', lock, token, 'NX', 'PX', String(lease)]);
    if (got === undefined || typeof got === 'symbol')
      return { value: await compute(), computed: true };
    if (got !== null) {
      try {
        const v = await read(cache, k, l1Key); // stored between our read and our lease?
        if (v !== miss && v !== FAILED) return { value: v, computed: false };
        const stop = renew(cache, lock, token, lease);
        try {
          return { value: await compute(), computed: true };
        } finally {
          stop();
        }
      } finally {
        await cache._call((client) => RELEASE.run(cache, client, lock, [token]));
      }
    }
    if (Date.now() > giveUp) return { value: await compute(), computed: true };
    await sleep(delay * (1 - 0.5 * Math.random()));
    delay = Math.min(BACKOFF[1], delay * 2);
    const v = await read(cache, k, l1Key);
    if (v === FAILED) return { value: await compute(), computed: true };
    if (v !== miss) return { value: v, computed: false };
  }
}

module.exports = { DEFAULT_LEASE, BACKOFF, lead, leaseOption, lockName };
