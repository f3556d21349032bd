'use strict';
// The Redis tier for Node when Redis fails, with real faults on a real redis-server of this
// file's own: SIGKILL mid-run and a restart on the same port, SIGSTOP (the port accepts
// connections, nothing answers), and a loopback proxy that adds latency or blackholes traffic.
// Every call must resolve (from L1, computed, or a counted miss), the circuit breaker must open
// and close again, and memory must stay within L1's budget.
//
// Timing assertions are deliberately loose (a call resolves in less than 10x its timeout): they
// check that nothing hangs, not how fast; speeds belong in bench/. The breaker's probe time is
// driven by the injected clock, not by sleeping.
const { describe, it: test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { RedisCache, memoize, _testing } = require('../../node/lib');
const { RedisServer, Proxy, skipReason, sleep } = require('./redis_server');

const skip = skipReason() || false;
const SECRET = 'faults-secret-0123456789abcdef';
const TIMEOUT = 500; // ms: long enough for a first connect on a busy CI machine
const LOOSE = 10 * TIMEOUT; // "resolved", not "fast"

let server = null;
const caches = [];

// coherent: false: these tests are about L1 serving through an outage, which a coherent cache
// gives up (its L1 is flushed when the invalidation connection drops).
function make(url, opts = {}) {
  const c = new RedisCache({
    url,
    coherent: false,
    secret: SECRET,
    timeout: TIMEOUT,
    breakerThreshold: 2,
    breakerDelay: [1000, 1000],
    ...opts,
  });
  caches.push(c);
  return c;
}

async function timed(promise) {
  const started = performance.now();
  const value = await promise;
  const elapsed = performance.now() - started;
  assert.ok(elapsed < LOOSE, `a call took ${elapsed.toFixed(0)} ms with timeout ${TIMEOUT}`);
  return value;
}

describe('the Redis tier under real faults', { skip }, () => {
  before(async () => {
    server = new RedisServer();
    await server.start();
  });
  after(async () => {
    for (const c of caches) await c.close();
    if (server !== null) await server.stop();
  });
  afterEach(async () => {
    _testing.useRealClock();
    if (server.paused) server.resume();
    if (server.proc === null) await server.start();
  });

  test('SIGKILL, then a restart on the same port', async () => {
    _testing.useManualClock(0);
    const c = make(server.url, { namespace: 'kill', l1: { max: 100 } });
    await c.set('kept', 'v'); // connects, writes
    assert.equal(c.stats().l2_sets, 1);
    await server.kill();

    assert.equal(await timed(c.get('kept')), 'v'); // L1
    assert.equal(await timed(c.get('absent')), undefined); // refused: a counted miss
    assert.equal(await timed(c.set('written', 1)), false); // L1 only
    let s = c.stats();
    assert.deepEqual([s.l2_errors, s.breaker, s.breaker_opened], [2, 'open', 1]);
    assert.equal(await timed(c.get('other')), undefined); // not even sent now
    assert.equal(c.stats().l2_skipped, 1);
    assert.equal(await c.get('written'), 1);
    for (let i = 0; i < 1000; i++) await c.set(i, i); // memory stays within L1's budget
    assert.ok(c.stats().l1_items <= 100);

    await server.restart(); // an empty server on the same port
    assert.equal(await c.get('other'), undefined); // the breaker waits for its probe time
    assert.equal(c.stats().l2_skipped, 1002);
    _testing.advance(1001); // past the probe time (1000 ms x U(0.5, 1])
    assert.equal(await timed(c.set('after', 2)), true); // the probe: Redis answers, closed
    s = c.stats();
    assert.deepEqual([s.breaker, s.reconnects, s.l2_errors], ['closed', 1, 2]);
    const fresh = make(server.url, { namespace: 'kill' });
    assert.equal(await fresh.get('after'), 2);
    assert.equal(await fresh.get('kept'), undefined); // the killed server kept nothing
  });

  test('a failed probe opens the breaker again with a longer delay', async () => {
    _testing.useManualClock(0);
    const c = make(server.url, { namespace: 'probe', breakerDelay: [1000, 8000] });
    c._breaker.random = () => 0; // U(0.5, 1] at its top: the delay itself
    await server.kill();
    await c.get('k');
    await c.get('k');
    assert.deepEqual([c.stats().breaker, c._breaker.probeAt], ['open', 1000]);
    _testing.advance(1000);
    await timed(c.get('k')); // the probe fails: open again, delay 2000 ms
    const s = c.stats();
    assert.deepEqual([s.breaker, s.breaker_opened, s.l2_errors], ['open', 2, 3]);
    assert.equal(c._breaker.probeAt, 3000);
    await c.get('k');
    assert.equal(c.stats().l2_skipped, 1);
    await server.start();
    _testing.advance(2000);
    assert.equal(await c.set('k', 1), true);
    assert.deepEqual([c.stats().breaker, c.stats().reconnects], ['closed', 1]);
  });

  test('SIGSTOP: every call resolves within its timeout, then Redis is used again', async () => {
    _testing.useManualClock(0);
    const c = make(server.url, { namespace: 'stop' });
    await c.set('kept', 1);
    server.pause();
    assert.equal(await timed(c.get('kept')), 1);
    assert.equal(await timed(c.get('absent')), undefined);
    assert.equal(await timed(c.set('x', 2)), false);
    const s = c.stats();
    assert.deepEqual([s.l2_timeouts, s.breaker], [2, 'open']);
    const found = await timed(c.getMany(['kept', 'a', 'b']));
    assert.deepEqual([...found], [['kept', 1]]);
    assert.equal(c.stats().l2_skipped, 1); // open: not sent
    server.resume();
    _testing.advance(1001);
    assert.equal(await timed(c.get('x')), 2); // L1 kept the write
    assert.equal(await timed(c.set('y', 3)), true); // the probe: closed again
    assert.equal(c.stats().breaker, 'closed');
  });

  test('memoize while Redis is stopped: computed, and every call resolves', async () => {
    server.pause();
    let calls = 0;
    const f = memoize(
      async function compute(x) {
        calls++;
        return x * 2;
      },
      {
        backend: 'redis',
        url: server.url,
        secret: SECRET,
        timeout: TIMEOUT,
        namespace: 'mstop',
        coherent: false,
      },
    );
    caches.push(f.cache);
    assert.equal(await timed(f(1)), 2);
    assert.equal(await timed(f(1)), 2); // L1
    assert.equal(await timed(f(2)), 4);
    assert.equal(calls, 2);
    assert.ok(f.stats().l2_errors >= 1);
  });

  test('the proxy: latency under the timeout is fine, over it times out', async () => {
    const proxy = await new Proxy(server.port).listen();
    try {
      const c = make(proxy.url, { namespace: 'slow', breakerThreshold: 5 });
      await c.set('k', 'v');
      proxy.latency = 20; // 40 ms a round trip: within the timeout
      const reader = make(proxy.url, { namespace: 'slow', breakerThreshold: 5 });
      assert.equal(await timed(reader.get('k')), 'v');
      proxy.latency = 1500; // over the timeout
      assert.equal(await timed(make(proxy.url, { namespace: 'slow' }).get('k')), undefined);
      assert.equal(caches.at(-1).stats().l2_timeouts, 1);
    } finally {
      await proxy.close();
    }
  });

  test('the proxy blackholes: calls time out, the breaker opens, a probe after healing closes it', async () => {
    _testing.useManualClock(0);
    const proxy = await new Proxy(server.port).listen();
    try {
      const c = make(proxy.url, { namespace: 'hole' });
      await c.set('k', 'v');
      proxy.blackhole = true;
      assert.equal(await timed(c.get('k')), 'v'); // L1
      assert.equal(await timed(c.get('a')), undefined);
      assert.equal(await timed(c.get('b')), undefined);
      let s = c.stats();
      assert.deepEqual([s.l2_timeouts, s.breaker], [2, 'open']);
      assert.equal(await timed(c.get('c')), undefined);
      assert.equal(c.stats().l2_skipped, 1);
      proxy.blackhole = false; // healed: new connections go through
      _testing.advance(1001);
      assert.equal(await timed(c.set('d', 1)), true); // the probe reconnects
      s = c.stats();
      assert.deepEqual([s.breaker, s.reconnects], ['closed', 1]);
      assert.equal(await make(server.url, { namespace: 'hole' }).get('d'), 1);
    } finally {
      await proxy.close();
    }
  });

  test('SIGSTOP with 50 calls in flight: all resolve within the timeout, as misses', async () => {
    const c = make(server.url, { namespace: 'stop50', breakerThreshold: 100 });
    await c.set('warm', 1);
    server.pause();
    const started = performance.now();
    const got = await Promise.all(Array.from({ length: 50 }, (_, i) => c.get(`k${i}`)));
    assert.ok(performance.now() - started < LOOSE);
    assert.deepEqual(got, new Array(50).fill(undefined));
    const s = c.stats();
    // The first timeout drops the connection: the calls still waiting on it fail at once.
    assert.deepEqual([s.l2_errors, s.misses], [50, 50]);
    assert.ok(s.l2_timeouts >= 1);
    server.resume();
  });

  test('close() never waits on a stopped server', async () => {
    const c = make(server.url, { namespace: 'close' });
    await c.set('k', 1);
    server.pause();
    const pending = c.get('absent');
    await timed(c.close());
    assert.equal(await timed(pending), undefined);
    await sleep(1);
  });
});
