'use strict';
// binding.js: finds the native addon, or decides on pure JavaScript.
//
// The package carries prebuilt binaries in the prebuildify layout,
// node/prebuilds/<platform>-<arch>/twincache.napi.node (Node-API, so one binary serves every Node
// version with that Node-API level), and loads them at require time: no install script, so
// `npm install twincache` works under npm's default of not running dependencies' scripts.
// TWINCACHE_PURE=1 forces pure JavaScript silently. Where no binary loads, pure JavaScript takes
// over with exactly one warning (code TWINCACHE_NATIVE_UNAVAILABLE).
const path = require('node:path');

// The addon's interface version; a binary from another version of this package is not used.
const ADDON_ABI = 1;

function load() {
  if (process.env.TWINCACHE_PURE === '1') return null;
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

module.exports = { addon, ADDON_ABI };
