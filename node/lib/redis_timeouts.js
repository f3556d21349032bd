'use strict';
// redis_timeouts.js: how the Redis tier (redis.js) bounds its calls: the circuit breaker (L1 only
// after repeated failures, until a probe finds Redis again) and the shared deadline list that
// times out every L2 call of a cache with one timer (docs/redis.md, "Timeouts, no retries, the
// circuit breaker"). Split out of redis.js by concern; no behaviour of its own beyond that.
const { performance } = require('node:perf_hooks');
const { clock } = require('./clock');

const TIMED_OUT = Symbol('twincache.redis.timeout');
const CLOSED = 'closed';
const OPEN = 'open';
const HALF_OPEN = 'half-open';
// ---- the circuit breaker --------------------------------------------------------------------------

// Closed: every call goes to Redis. After `threshold` consecutive failures it opens: calls are not
// sent (L1 only) until a probe time, min(max, min * 2^k) * U(0.5, 1] ms after the k-th opening in
// a row; then one call is let through (half-open). Its success closes the breaker, its failure
// opens it again with the next delay. Time is clock.js's (injectable in tests).
class Breaker {
  constructor(threshold, minDelay, maxDelay) {
    this.threshold = threshold;
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this.state = CLOSED;
    this.failures = 0; // consecutive
    this.openings = 0; // in a row, for the backoff
    this.opened = 0; // total, for stats
    this.recoveries = 0; // closings after an opening
    this.probeAt = 0;
    this.random = Math.random;
  }

  allow() {
    if (this.state === CLOSED) return true;
    if (this.state === OPEN && clock.now() >= this.probeAt) {
      this.state = HALF_OPEN; // this caller probes; the others stay L1-only
      return true;
    }
    return false;
  }

  success() {
    if (this.state === CLOSED && this.failures === 0) return;
    if (this.state !== CLOSED) this.recoveries++;
    this.state = CLOSED;
    this.failures = 0;
    this.openings = 0;
  }

  failure() {
    this.failures++;
    if (this.state === HALF_OPEN || this.failures >= this.threshold) {
      const delay = Math.min(this.maxDelay, this.minDelay * 2 ** this.openings);
      this.probeAt = clock.now() + delay * (0.5 + 0.5 * (1 - this.random()));
      this.openings++;
      this.opened++;
      this.state = OPEN;
    }
  }
}

// ---- timeouts ---------------------------------------------------------------------------------

// One L2 call of a cache waiting for its answer: timed out by Deadlines, which resolves it FAILED.
// A settled promise of map(result) (result itself without map); rejected when map throws.
function mapped(result, map) {
  if (map === null) return Promise.resolve(result);
  try {
    return Promise.resolve(map(result));
  } catch (err) {
    return Promise.reject(err);
  }
}

class Call {
  constructor(cache, used, map) {
    this.cache = cache;
    this.used = used; // the connection it uses (dropped if it fails), null while connecting
    this.map = map; // result -> what the caller's promise resolves to, or null (the result)
    this.resolve = null;
    this.reject = null;
    this.at = 0; // its deadline, performance.now() ms
    this.next = null;
    this.pending = true;
  }

  // Settles the caller's promise with `result`, through `map` (a throw rejects it). `ttl`: the
  // PTTL that came with a read's value (RedisCache._callGet), passed on to map.
  settle(result, ttl) {
    if (this.map === null) {
      this.resolve(result);
      return;
    }
    try {
      this.resolve(this.map(result, ttl));
    } catch (err) {
      this.reject(err);
    }
  }

  expire() {
    this.settle(this.cache._failed(TIMED_OUT, this.used));
  }
}

// The timeouts of one cache's L2 calls, without a timer per call: every call has the same
// timeout, so deadlines come in the order calls start. The calls wait in a list, oldest first;
// one timer, armed for the oldest one's deadline, expires those whose deadline passed and is
// armed again for the next. An answered call is marked (end) and unlinked once it reaches the
// head. Real time (performance.now(), as setTimeout), not the injectable clock. The timer is
// unref'd: a call in flight keeps the process alive through its socket.
class Deadlines {
  constructor(ms) {
    this.ms = ms;
    this.head = null;
    this.tail = null;
    this.timer = null;
    this.fire = () => this._fire();
  }

  add(call) {
    call.at = performance.now() + this.ms;
    if (this.tail === null) this.head = call;
    else this.tail.next = call;
    this.tail = call;
    if (this.timer === null) this._arm(this.ms);
  }

  // Whether the call was still pending (false: it timed out already); it is pending no more.
  end(call) {
    if (!call.pending) return false;
    call.pending = false;
    if (call === this.head) this._drop();
    return true;
  }

  // Unlinks the answered calls at the head.
  _drop() {
    let h = this.head;
    while (h !== null && !h.pending) {
      const next = h.next;
      h.next = null;
      h = next;
    }
    this.head = h;
    if (h === null) this.tail = null;
  }

  _arm(ms) {
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(ms)));
    this.timer.unref();
  }

  _fire() {
    this.timer = null;
    const now = performance.now();
    for (let h = this.head; h !== null && h.at <= now; h = this.head) {
      this.head = h.next;
      h.next = null;
      if (this.head === null) this.tail = null;
      if (h.pending) {
        h.pending = false;
        h.expire();
      }
    }
    this._drop();
    if (this.head !== null) this._arm(this.head.at - now);
  }
}

module.exports = { Breaker, Call, Deadlines, TIMED_OUT, CLOSED, OPEN, HALF_OPEN, mapped };
