'use strict';
// options.js: type checks for every public option (JavaScript's job), then the range checks of
// the core (native: the core itself through the addon; pure: the ports in errors.js), so every
// bad option throws the same TypeError / RangeError, with the same message and code, in both
// modes. Nothing here runs on a hot path: options are read once per cache.
const { makeError, typeError, pureChecks } = require('./errors');

let checks = pureChecks;
let defaultPolicyName = 'tinylfu'; // the core's default_policy(); native asks the core

// Native mode: the addon's checks call twincache::parse_limit / parse_ttl / parse_policy.
function useNativeChecks(addon) {
  checks = {
    limit: (name, value) => addon.checkLimit(name, value),
    ttl: (name, value) => addon.checkTtl(name, value),
    policy: (name, value) => addon.checkPolicy(name, value),
    entrySize: (maxBytes, keyBytes, valueWeight) =>
      addon.checkEntrySize(maxBytes, keyBytes, valueWeight),
  };
  defaultPolicyName = addon.defaultPolicy();
}

function fail(status) {
  throw makeError(status[0], status[1]);
}

function checkObject(options, allowed) {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw typeError('options', 'an object', options);
  }
  for (const name of Object.keys(options)) {
    if (!allowed.includes(name)) {
      throw makeError(
        'invalid_argument',
        `options must only name ${allowed.join(', ')} (got '${name}')`,
      );
    }
  }
  return options;
}

// A count or byte budget; undefined means no limit (Infinity).
function limit(name, value) {
  if (value === undefined) return Infinity;
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  const status = checks.limit(name, value);
  if (status) fail(status);
  return value;
}

// A TTL in milliseconds; undefined means none (0 internally).
function ttl(name, value) {
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  const status = checks.ttl(name, value);
  if (status) fail(status);
  return value;
}

function policy(name, value) {
  if (value === undefined) return defaultPolicyName;
  if (typeof value !== 'string') throw typeError(name, 'a string', value);
  const status = checks.policy(name, value);
  if (status) fail(status);
  return value === '' ? defaultPolicyName : value;
}

function optionalFunction(name, value) {
  if (value !== undefined && typeof value !== 'function') {
    throw typeError(name, 'a function', value);
  }
  return value;
}

const FRESH_OPTIONS = [
  'stale',
  'ttlJitter',
  'earlyRefresh',
  'cacheErrors',
  'errorTtl',
  'onRefreshError',
];
const CACHE_OPTIONS = ['max', 'ttl', 'maxBytes', 'sizeOf', 'policy', 'dispose'];
const MEMOIZE_OPTIONS = ['max', 'ttl', 'maxBytes', 'key', 'policy', 'dispose', ...FRESH_OPTIONS];
const BYTE_CACHE_OPTIONS = ['max', 'ttl', 'maxBytes', 'policy'];
const SET_OPTIONS = ['ttl'];

function byteCacheOptions(options) {
  const o = checkObject(options, BYTE_CACHE_OPTIONS);
  return {
    max: limit('max', o.max),
    ttl: ttl('ttl', o.ttl),
    maxBytes: limit('maxBytes', o.maxBytes),
    policy: policy('policy', o.policy),
  };
}

function cacheOptions(options) {
  const o = checkObject(options, CACHE_OPTIONS);
  return {
    max: limit('max', o.max),
    ttl: ttl('ttl', o.ttl),
    maxBytes: limit('maxBytes', o.maxBytes),
    sizeOf: optionalFunction('sizeOf', o.sizeOf),
    policy: policy('policy', o.policy),
    dispose: optionalFunction('dispose', o.dispose),
  };
}

function memoizeOptions(options) {
  const o = checkObject(options, MEMOIZE_OPTIONS);
  return {
    max: limit('max', o.max),
    ttl: ttl('ttl', o.ttl),
    maxBytes: limit('maxBytes', o.maxBytes),
    key: optionalFunction('key', o.key),
    policy: policy('policy', o.policy),
    dispose: optionalFunction('dispose', o.dispose),
    ...freshOptions(o),
  };
}

// ttlJitter: a number in [0, 1) (as the Redis tier's ttl_jitter).
function fraction(name, value) {
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  if (!(value >= 0 && value < 1)) {
    throw makeError('out_of_range', `${name} must be a number in [0, 1) (got ${value})`);
  }
  return value;
}

function beta(name, value) {
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  if (!(value > 0 && Number.isFinite(value))) {
    throw makeError(
      'out_of_range',
      `${name} must be a finite number > 0 (the XFetch beta) (got ${value})`,
    );
  }
  return value;
}

// memoize's freshness options (fresh.js); `fresh` says whether any is set.
function freshOptions(o) {
  const out = {
    stale: ttl('stale', o.stale),
    ttlJitter: fraction('ttlJitter', o.ttlJitter),
    earlyRefresh: beta('earlyRefresh', o.earlyRefresh),
    cacheErrors: optionalFunction('cacheErrors', o.cacheErrors),
    errorTtl: ttl('errorTtl', o.errorTtl),
    onRefreshError: optionalFunction('onRefreshError', o.onRefreshError),
  };
  const needTtl = ['stale', 'ttlJitter', 'earlyRefresh'].filter((n) => o[n] !== undefined);
  if (needTtl.length > 0 && (o.ttl === undefined || o.ttl === 0)) {
    throw makeError('invalid_argument', `${needTtl.join(', ')} need(s) a ttl (got no ttl)`);
  }
  if (o.errorTtl !== undefined && o.cacheErrors === undefined) {
    throw makeError('invalid_argument', 'errorTtl applies with cacheErrors only');
  }
  if (o.onRefreshError !== undefined && o.stale === undefined && o.earlyRefresh === undefined) {
    throw makeError('invalid_argument', 'onRefreshError applies with stale or earlyRefresh only');
  }
  out.fresh = FRESH_OPTIONS.some((n) => o[n] !== undefined);
  return out;
}

// set(k, v, { ttl }): returns the entry's TTL in ms (0: none), `fallback` when not given.
function setTtl(options, fallback) {
  const o = checkObject(options, SET_OPTIONS);
  return o.ttl === undefined ? fallback : ttl('ttl', o.ttl);
}

// The status of an entry too heavy to store (the caller already knows it is): the core's
// check_entry_size message.
function entrySizeStatus(maxBytes, keyBytes, valueWeight) {
  return checks.entrySize(maxBytes, keyBytes, valueWeight);
}

module.exports = {
  entrySizeStatus,
  byteCacheOptions,
  cacheOptions,
  memoizeOptions,
  freshOptions,
  setTtl,
  useNativeChecks,
  optionalFunction,
  ttl,
  freshOptions,
  FRESH_OPTIONS,
};
