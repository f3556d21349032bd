// ESM entry: a thin wrapper over the CommonJS core (one instance of the package whichever way it
// is loaded; no top-level await).
import twincache from './lib/index.js';

export const { memoize, Cache, ByteCache, DiskCache, RedisCache, native, version, _testing } =
  twincache;
export default twincache;
