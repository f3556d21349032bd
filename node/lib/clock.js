'use strict';
// clock.js: the monotonic clock (milliseconds) every expiry decision in JavaScript reads. Tests
// switch it to manual mode through the private `_testing` export; in native mode the switch is
// forwarded to the core's process-wide clock (twincache::clock::set_manual / advance) so entries
// whose TTL the core tracks (byte mode) expire on the same injected time line.
const { performance } = require('node:perf_hooks');

let addon = null;

function realNow() {
  return performance.now();
}

const clock = {
  // Hot path: one call; real mode reads performance.now().
  now: realNow,
  _manualMs: 0,
};

function manualNow() {
  return clock._manualMs;
}

const testing = {
  // Switches to manual time at `startMs`: from now on time moves only through advance().
  useManualClock(startMs = 0) {
    clock._manualMs = startMs;
    clock.now = manualNow;
    if (addon !== null) addon.clockSetManual(startMs * 1e6);
  },
  // Moves manual time forward by `ms` milliseconds.
  advance(ms) {
    if (clock.now !== manualNow) throw new Error('advance() needs useManualClock() first');
    clock._manualMs += ms;
    if (addon !== null) addon.clockAdvance(ms * 1e6);
  },
  // Back to real time (performance.now()).
  useRealClock() {
    clock.now = realNow;
    if (addon !== null) addon.clockSetReal();
  },
};

function attachAddon(a) {
  addon = a;
}

module.exports = { clock, testing, attachAddon };
