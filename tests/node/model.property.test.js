'use strict';
// Property tests (fast-check) of Node's Cache against a model (issue 14): random sequences of
// set/get/has/delete/clear, with per-entry TTLs on the injected clock, run against both the cache
// and a few lines of plain JavaScript that say what docs/node.md promises. Native and
// TWINCACHE_PURE=1 (scripts/test-node runs this file in both). The number of runs is bounded so
// the file takes a few seconds; FC_NUM_RUNS=n runs more, FC_SEED=s replays a failure.
//   - policy 'lru' with max and maxBytes (no expiry): exact model: every get, has, delete, size,
//     bytes and the keys() order (most recently used first) match an LRU list;
//   - policy 'lru' with TTLs and no capacity pressure: exact model of expiry;
//   - the default policy (tinylfu, admission decides what stays): invariants at every step:
//     size <= max, bytes <= maxBytes, a key just set is readable, stats balance.
const test = require('node:test');
const assert = require('node:assert/strict');
const fc = require('fast-check');
const { Cache, _testing } = require('twincache');

const numRuns = Number(process.env.FC_NUM_RUNS || 150);
const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : undefined;
const fcParams = { numRuns, seed, endOnFailure: true };

test.beforeEach(() => _testing.useManualClock(1000));
test.afterEach(() => _testing.useRealClock());

const OVERHEAD = 64; // docs/node.md, Weights: the core's entry_overhead_bytes
const weight = (key, value) => key.length + value.length + OVERHEAD;

const keyArb = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'hh', 'iii');
const valueArb = fc.string({ maxLength: 40 });
const opArb = fc.oneof(
  { weight: 40, arbitrary: fc.record({ op: fc.constant('set'), key: keyArb, value: valueArb }) },
  { weight: 40, arbitrary: fc.record({ op: fc.constant('get'), key: keyArb }) },
  { weight: 10, arbitrary: fc.record({ op: fc.constant('has'), key: keyArb }) },
  { weight: 10, arbitrary: fc.record({ op: fc.constant('delete'), key: keyArb }) },
  { weight: 10, arbitrary: fc.record({ op: fc.constant('keys') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clear') }) },
);

// An exact LRU: a Map in recency order (least recent first).
class LruModel {
  constructor(max, maxBytes) {
    this.max = max;
    this.maxBytes = maxBytes;
    this.map = new Map();
    this.bytes = 0;
  }
  set(key, value) {
    const w = weight(key, value);
    if (w > this.maxBytes) return 'rejected';
    this.delete(key);
    this.map.set(key, value);
    this.bytes += w;
    for (const [k] of this.map) {
      if (this.map.size <= this.max && this.bytes <= this.maxBytes) break;
      this.delete(k);
    }
    return 'stored';
  }
  get(key) {
    if (!this.map.has(key)) return undefined;
    const v = this.map.get(key);
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }
  delete(key) {
    if (!this.map.has(key)) return false;
    this.bytes -= weight(key, this.map.get(key));
    this.map.delete(key);
    return true;
  }
  clear() {
    this.map.clear();
    this.bytes = 0;
  }
}

function setOrRejected(c, key, value, options) {
  try {
    c.set(key, value, options);
    return 'stored';
  } catch (e) {
    assert.equal(e.code, 'ERR_TWINCACHE_VALUE_TOO_LARGE', e.message);
    return 'rejected';
  }
}

test('lru with max and maxBytes matches an exact LRU model', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 60, max: 400 }),
      fc.array(opArb, { maxLength: 80 }),
      (max, maxBytes, ops) => {
        const c = new Cache({ max, maxBytes, policy: 'lru' });
        const m = new LruModel(max, maxBytes);
        for (const o of ops) {
          if (o.op === 'set') {
            assert.equal(setOrRejected(c, o.key, o.value), m.set(o.key, o.value));
          } else if (o.op === 'get') {
            assert.equal(c.get(o.key), m.get(o.key));
          } else if (o.op === 'has') {
            assert.equal(c.has(o.key), m.map.has(o.key));
          } else if (o.op === 'delete') {
            assert.equal(c.delete(o.key), m.delete(o.key));
          } else if (o.op === 'keys') {
            assert.deepEqual([...c.keys()], [...m.map.keys()].reverse());
          } else {
            c.clear();
            m.clear();
          }
          assert.equal(c.size, m.map.size);
          assert.equal(c.stats().bytes, m.bytes);
        }
      },
    ),
    fcParams,
  );
});

test('lru with per-entry TTLs matches a model of expiry (injected clock)', () => {
  const stepArb = fc.oneof(
    opArb,
    fc.record({ op: fc.constant('advance'), ms: fc.integer({ min: 0, max: 60 }) }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100 }),
      fc.array(fc.tuple(stepArb, fc.option(fc.integer({ min: 1, max: 100 }))), { maxLength: 80 }),
      (defaultTtl, steps) => {
        _testing.useManualClock(1000);
        let now = 1000;
        const c = new Cache({ ttl: defaultTtl, policy: 'lru' });
        const m = new Map(); // key -> [value, expiry]
        const live = (k) => m.has(k) && now < m.get(k)[1];
        for (const [o, ttl] of steps) {
          if (o.op === 'advance') {
            _testing.advance(o.ms);
            now += o.ms;
          } else if (o.op === 'set') {
            c.set(o.key, o.value, ttl === null ? undefined : { ttl });
            m.set(o.key, [o.value, now + (ttl === null ? defaultTtl : ttl)]);
          } else if (o.op === 'get') {
            assert.equal(c.get(o.key), live(o.key) ? m.get(o.key)[0] : undefined);
          } else if (o.op === 'has') {
            assert.equal(c.has(o.key), live(o.key));
          } else if (o.op === 'delete') {
            assert.equal(c.delete(o.key), live(o.key));
            m.delete(o.key);
          } else if (o.op === 'keys') {
            const want = [...m.keys()].filter(live).sort();
            assert.deepEqual([...c.keys()].sort(), want);
          } else {
            c.clear();
            m.clear();
          }
          // size counts expired entries not reclaimed yet (docs/node.md, TTL): bounded both ways.
          const stored = [...m.keys()].filter(live).length;
          assert.ok(c.size >= stored && c.size <= m.size, `size ${c.size}, live ${stored}`);
        }
      },
    ),
    fcParams,
  );
});

test('the default policy keeps its budgets and its counters balance at every step', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 60, max: 500 }),
      fc.array(
        fc.tuple(
          fc.oneof(
            opArb,
            fc.record({ op: fc.constant('advance'), ms: fc.integer({ min: 0, max: 40 }) }),
          ),
          fc.option(fc.integer({ min: 1, max: 50 })),
        ),
        { maxLength: 100 },
      ),
      (max, maxBytes, steps) => {
        _testing.useManualClock(1000);
        const c = new Cache({ max, maxBytes });
        let gets = 0;
        for (const [o, ttl] of steps) {
          if (o.op === 'advance') {
            _testing.advance(o.ms);
          } else if (o.op === 'set') {
            const r = setOrRejected(c, o.key, o.value, ttl === null ? undefined : { ttl });
            assert.equal(r, weight(o.key, o.value) > maxBytes ? 'rejected' : 'stored');
            if (r === 'stored') {
              // A key just set is readable (the new entry is never the one evicted for room).
              assert.equal(c.get(o.key), o.value);
              gets += 1;
            }
          } else if (o.op === 'get') {
            const v = c.get(o.key);
            assert.ok(v === undefined || typeof v === 'string');
            gets += 1;
          } else if (o.op === 'has') {
            c.has(o.key);
          } else if (o.op === 'delete') {
            c.delete(o.key);
          } else if (o.op === 'keys') {
            const keys = [...c.keys()];
            assert.equal(new Set(keys).size, keys.length);
            assert.ok(keys.length <= c.size);
          } else {
            c.clear();
          }
          const s = c.stats();
          assert.ok(c.size <= max, `size ${c.size} > max ${max}`);
          assert.equal(s.items, c.size);
          assert.ok(s.bytes <= maxBytes, `bytes ${s.bytes} > maxBytes ${maxBytes}`);
          assert.equal(s.hits + s.misses, gets);
          assert.equal(s.evictions, s.evictedItems + s.evictedBytes);
          assert.equal(
            s.inserts - s.evictions - s.expirations - s.deleted - s.cleared,
            s.items,
            JSON.stringify(s),
          );
        }
      },
    ),
    fcParams,
  );
});
