'use strict';
// binding.js: finds the native addon, or decides on pure JavaScript.
//
// The package carries prebuilt binaries in the prebuildify layout,
// node/prebuilds/<platform>-<arch>/twincache.napi.node (Node-API, so one binary serves every Node
// version with that Node-API level), and loads them at require time: no install script, so
// `npm install twincache` works under npm's default of not running dependencies' scripts.
// TWINCACHE_PURE=1 (or true, yes, on) forces pure JavaScript silently. Where no binary loads,
// pure JavaScript takes over with exactly one warning (code TWINCACHE_NATIVE_UNAVAILABLE).
const path = require('node:path');

// The addon's interface version; a binary from another version of this package is not used.
const ADDON_ABI = 2; // 2: RedisMac (the Redis envelope's HMAC)

const PURE_VALUES = ['1', 'true', 'yes', 'on'];
const NATIVE_VALUES = ['', '0', 'false', 'no', 'off'];
let pure = null;

// TWINCACHE_PURE, read as Python reads it (python/twincache/_backend.py): 1/true/yes/on (any
// case) select pure JavaScript; unset, empty, 0/false/no/off the native addon; anything else
// warns once (code TWINCACHE_INVALID_ENV) and keeps the native addon.
function pureRequested() {
  if (pure !== null) return pure;
  const raw = process.env.TWINCACHE_PURE === undefined ? '' : process.env.TWINCACHE_PURE;
  const value = raw.trim().toLowerCase();
  pure = PURE_VALUES.includes(value);
  if (!pure && !NATIVE_VALUES.includes(value)) {
    process.emitWarning(
      `twincache: TWINCACHE_PURE='${raw}' is not one of 1, true, yes, on (pure implementation) ` +
        'or 0, false, no, off, empty (native); using the native one',
      { code: 'TWINCACHE_INVALID_ENV' },
    );
  }
  return pure;
}

function load() {
  if (pureRequested()) return null;
  const file = path.join(
    __dirname,
    '..',
    'prebuilds',
    `${process.platform}-${process.arch}`,
    'twincache.napi.node',
  );
  try {
    const addon = require(file);
    if (addon.abi !== ADDON_ABI) {
      throw new Error(`${file} has interface ${addon.abi}, this package needs ${ADDON_ABI}`);
    }
    return addon;
  } catch (err) {
    const why = err && err.code === 'MODULE_NOT_FOUND' ? `${file} is missing` : err.message;
    process.emitWarning(
      `twincache: no native binary could be loaded for ${process.platform}-${process.arch} ` +
        `(${why}); using the pure-JavaScript implementation. Set TWINCACHE_PURE=1 to choose ` +
        'it explicitly.',
      { code: 'TWINCACHE_NATIVE_UNAVAILABLE' },
    );
    return null;
  }
}

const addon = load();

module.exports = { addon, ADDON_ABI, pureRequested };
