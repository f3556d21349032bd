'use strict';
// Bad input: TypeError / RangeError with a code, naming the option and its range. Messages come
// from the core's checks (native) or their JavaScript ports (pure): the same words in both.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Cache, memoize } = require('twincache');

const RANGE = 'ERR_TWINCACHE_OUT_OF_RANGE';
const TYPE = 'ERR_TWINCACHE_INVALID_ARGUMENT';
const LIMIT = 'an integer in [1, 9007199254740991] or Infinity';
const TTL = 'a finite number of milliseconds > 0 and <= 4e+12';

const cases = [
  [{ max: -1 }, RangeError, RANGE, `max must be ${LIMIT} (got -1)`],
  [{ max: 0 }, RangeError, RANGE, `max must be ${LIMIT} (got 0)`],
  [{ max: 1.5 }, RangeError, RANGE, `max must be ${LIMIT} (got 1.5)`],
  [{ max: NaN }, RangeError, RANGE, `max must be ${LIMIT} (got NaN)`],
  [{ max: 2 ** 60 }, RangeError, RANGE, `max must be ${LIMIT} (got 1152921504606846976)`],
  [{ max: 100000.5 }, RangeError, RANGE, `max must be ${LIMIT} (got 100000.5)`],
  [{ maxBytes: -1e5 }, RangeError, RANGE, `maxBytes must be ${LIMIT} (got -1e+05)`],
  [{ maxBytes: -Infinity }, RangeError, RANGE, `maxBytes must be ${LIMIT} (got -Infinity)`],
  [{ ttl: 0 }, RangeError, RANGE, `ttl must be ${TTL} (got 0)`],
  [{ ttl: -1 }, RangeError, RANGE, `ttl must be ${TTL} (got -1)`],
  [{ ttl: Infinity }, RangeError, RANGE, `ttl must be ${TTL} (got Infinity)`],
  [{ ttl: 1e13 }, RangeError, RANGE, `ttl must be ${TTL} (got 1e+13)`],
  [{ ttl: 0.25e-3 * -1 }, RangeError, RANGE, `ttl must be ${TTL} (got -0.00025)`],
  [{ policy: 'fifo' }, RangeError, RANGE, "policy must be one of 'lru', 'tinylfu' (got 'fifo')"],
  [{ max: 'x' }, TypeError, TYPE, "max must be a number (got string 'x')"],
  [{ max: null }, TypeError, TYPE, 'max must be a number (got null)'],
  [{ ttl: '5' }, TypeError, TYPE, "ttl must be a number (got string '5')"],
  [{ maxBytes: 10n }, TypeError, TYPE, 'maxBytes must be a number (got bigint 10)'],
  [{ policy: 1 }, TypeError, TYPE, 'policy must be a string (got number 1)'],
];

for (const [opts, Type, code, message] of cases) {
  test(`new Cache(${JSON.stringify(opts, (k, v) => (typeof v === 'bigint' ? `${v}n` : v))}) throws ${Type.name}`, () => {
    assert.throws(
      () => new Cache(opts),
      (err) => {
        assert.ok(err instanceof Type, `${err.name}: ${err.message}`);
        assert.equal(err.code, code);
        assert.equal(err.message, message);
        return true;
      },
    );
  });
  if (!('sizeOf' in opts)) {
    test(`memoize(fn, ${Object.keys(opts)[0]}) gives the same error`, () => {
      assert.throws(() => memoize(() => 0, opts), { name: Type.name, code, message });
    });
  }
}

test('valid edge values are accepted', () => {
  assert.doesNotThrow(() => new Cache({ max: 1, maxBytes: 1, ttl: 4e12 }));
  assert.doesNotThrow(() => new Cache({ max: Infinity, maxBytes: 9007199254740991 }));
  assert.doesNotThrow(() => new Cache({ ttl: 0.001, policy: 'lru' }));
  assert.doesNotThrow(() => new Cache({ policy: 'tinylfu' }));
  assert.doesNotThrow(() => new Cache({ policy: '' }));
  assert.doesNotThrow(() => new Cache({}));
});

test('memoize(42) and other non-functions throw TypeError naming fn', () => {
  for (const [v, got] of [
    [42, 'number 42'],
    [undefined, 'undefined'],
    ['f', "string 'f'"],
    [{}, 'an object'],
  ]) {
    assert.throws(() => memoize(v), {
      name: 'TypeError',
      code: TYPE,
      message: `fn must be a function (got ${got})`,
    });
  }
});

test('options must be an object with known names', () => {
  assert.throws(() => new Cache(5), {
    name: 'TypeError',
    code: TYPE,
    message: 'options must be an object (got number 5)',
  });
  assert.throws(() => new Cache({ maxSize: 5 }), {
    name: 'TypeError',
    code: TYPE,
    message: "options must only name max, ttl, maxBytes, sizeOf, policy, dispose (got 'maxSize')",
  });
  assert.throws(() => memoize(() => 0, { sizeOf: () => 1 }), {
    name: 'TypeError',
    message:
      "options must only name max, ttl, maxBytes, key, policy, dispose, stale, ttlJitter, earlyRefresh, cacheErrors, errorTtl, onRefreshError (got 'sizeOf')",
  });
  assert.throws(() => memoize(() => 0, { key: 'id' }), {
    name: 'TypeError',
    message: "key must be a function (got string 'id')",
  });
  assert.throws(() => new Cache({ sizeOf: 3 }), {
    name: 'TypeError',
    message: 'sizeOf must be a function (got number 3)',
  });
});

test('the pure-JS number format matches the core (native run)', (t) => {
  const { addon } = require('../../node/lib/binding');
  if (addon === null) {
    t.skip('pure mode: no core to compare with');
    return;
  }
  const { formatDouble } = require('../../node/lib/errors');
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 20000; i++) {
    const v = -rand() * 10 ** Math.floor(rand() * 640 - 320);
    const core = addon.checkLimit('x', v)[1].match(/got (.*)\)$/)[1];
    assert.equal(formatDouble(v), core, `for ${v}`);
  }
});

test("memoize's backend option: 'memory' (default), 'disk' or 'redis'", () => {
  const m = memoize((x) => x + 1, { backend: 'memory', max: 2 });
  assert.equal(m(1), 2);
  assert.equal(m.stats().misses, 1);
  assert.throws(() => memoize(() => 0, { backend: 'valkey' }), {
    name: 'RangeError',
    code: RANGE,
    message: "backend must be one of 'memory', 'disk', 'redis' (got 'valkey')",
  });
  assert.throws(() => memoize(() => 0, { backend: 1 }), {
    name: 'TypeError',
    code: TYPE,
    message: 'backend must be a string (got number 1)',
  });
  assert.throws(() => memoize(() => 0, { backend: 'memory', path: '/tmp/x' }), {
    name: 'TypeError',
    message:
      "options must only name max, ttl, maxBytes, key, policy, dispose, stale, ttlJitter, earlyRefresh, cacheErrors, errorTtl, onRefreshError (got 'path')",
  });
});
