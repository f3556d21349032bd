'use strict';
// twincache for Node: memoize(fn, options) and new Cache(options), over the C++ core when its
// prebuilt addon loads (the `native` export is then true), else in pure JavaScript with the same
// API, messages and error codes.
const { addon } = require('./binding');
const { testing, attachAddon } = require('./clock');
const options = require('./options');
const memo = require('./memoize');
const { Cache: PureCache } = require('./cache');
const { makeByteCache, makePureByteStore } = require('./bytecache');

let Cache = PureCache;
let ByteCache;
if (addon !== null) {
  options.useNativeChecks(addon);
  attachAddon(addon);
  Cache = require('./native').makeNativeCache(addon, PureCache);
  memo.useCacheClass(Cache);
  ByteCache = makeByteCache(addon.ByteStore);
} else {
  ByteCache = makeByteCache(makePureByteStore(PureCache));
}

// The persistent tier (docs/persistence.md): its addon loads lazily, on the first DiskCache.
const { DiskCache } = require('./disk');
// The Redis tier (docs/redis.md): node-redis, its optional peer dependency, loads on first use.
const { RedisCache } = require('./redis');

module.exports = {
  memoize: memo.memoize,
  Cache,
  ByteCache,
  DiskCache,
  RedisCache,
  native: addon !== null,
  // The one place the version is written (pyproject.toml and CMake read it there too).
  version: require('../../package.json').version,
  // Private: an injected clock for tests (useManualClock, advance, useRealClock). Not API.
  // Also: setRandom(fn) and refreshes(memoized) for the freshness options (fresh.js).
  _testing: Object.assign(testing, require('./fresh').testing),
};
