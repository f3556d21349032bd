'use strict';
// DiskCache and memoize(fn, { backend: 'disk' }): the Cache API over a cache directory,
// persistence across instances and processes, TTL on an injected clock, the byte budget, bad
// options, integrity, the memory fallback. Runs twice: native (the disk addon must load) and
// TWINCACHE_PURE=1 (Node 20 has no SQLite: DiskCache is memory-only there, with one warning).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { DiskCache, memoize } = require('twincache');
const { _testing } = require('../../node/lib/disk.js');

const pure = process.env.TWINCACHE_PURE === '1';
const persistent = _testing.diskAddon().addon !== null;
const needsDisk = persistent ? false : 'pure mode: Node 20 has no SQLite, DiskCache is memory-only';
const lib = require.resolve('twincache');

function tmpDir() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-node-disk-'));
  return path.join(root, 'cache');
}

const warnings = [];
process.on('warning', (w) => {
  if (w.code === 'TWINCACHE_DISK_UNAVAILABLE') warnings.push(w.message);
});

test('the disk addon loads in native mode and never in pure mode', () => {
  if (process.env.TWINCACHE_EXPECT_NATIVE === '1')
    assert.equal(persistent, true, _testing.diskAddon().why);
  if (pure) assert.equal(persistent, false);
});

test('the Cache API', () => {
  const c = new DiskCache({ path: tmpDir(), codec: 'json' });
  assert.equal(c.persistent, persistent);
  assert.equal(c.get('a'), undefined);
  assert.equal(c.set('a', { x: [1, 2] }), c);
  c.set(['tuple', 1], 'list key').set(7, null);
  assert.deepEqual(c.get('a'), { x: [1, 2] });
  assert.equal(c.get(['tuple', 1]), 'list key');
  assert.equal(c.get(7), null);
  assert.equal(c.has(7), true);
  assert.equal(c.has('nope'), false);
  assert.equal(c.size, 3);
  assert.deepEqual(
    new Set([...c.keys()].map((k) => JSON.stringify(k))),
    new Set(['"a"', '["tuple",1]', '7']),
  );
  assert.deepEqual(new Map([...c.entries()].map(([k, v]) => [JSON.stringify(k), v])).get('"a"'), {
    x: [1, 2],
  });
  assert.equal(c.delete('a'), true);
  assert.equal(c.delete('a'), false);
  c.clear();
  assert.equal(c.size, 0);
  const s = c.stats();
  for (const name of ['hits', 'misses', 'evictions', 'expirations', 'items', 'bytes']) {
    assert.equal(typeof s[name], 'number', name);
  }
  assert.equal(s.items, 0);
});

test('Buffers are stored raw, whatever the codec', () => {
  const c = new DiskCache({ path: tmpDir(), codec: 'json' });
  c.set('b', Buffer.from([0, 1, 255]));
  assert.deepEqual(c.get('b'), Buffer.from([0, 1, 255]));
});

test('the v8 codec keeps Maps, Dates, Buffers and undefined', () => {
  const c = new DiskCache({ path: tmpDir() });
  const v = { m: new Map([[1, 'a']]), d: new Date(5), b: Buffer.from('xy'), u: undefined };
  c.set('k', v);
  assert.deepEqual(c.get('k'), v);
  assert.throws(() => new DiskCache({ path: tmpDir(), codec: 'json' }).set('f', () => 1), {
    name: 'TypeError',
    code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
  });
});

test('values survive a new instance and another process', { skip: needsDisk }, () => {
  const dir = tmpDir();
  const big = Array.from({ length: 50000 }, (_, i) => i);
  new DiskCache({ path: dir, codec: 'json' }).set('big', big).set('s', 'héllo').flush();
  assert.deepEqual(new DiskCache({ path: dir, codec: 'json' }).get('big'), big);
  const code = `
    const { DiskCache } = require(${JSON.stringify(lib)});
    const c = new DiskCache({ path: ${JSON.stringify(dir)}, codec: 'json' });
    if (c.get('s') !== 'héllo') process.exit(3);
    c.set('from child', [1, 2]);`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(new DiskCache({ path: dir, codec: 'json' }).get('from child'), [1, 2]);
});

test('TTL on an injected clock', (t) => {
  _testing.useManualClock(1_700_000_000_000);
  t.after(() => _testing.useRealClock());
  const dir = tmpDir();
  const c = new DiskCache({ path: dir, ttl: 10_000 });
  c.set('default', 1);
  c.set('short', 2, { ttl: 1000 });
  c.flush(); // on disk now: expiry is then found (and counted) there too
  _testing.advance(999);
  assert.equal(c.get('short'), 2);
  _testing.advance(1);
  assert.equal(c.get('short'), undefined);
  assert.equal(c.has('short'), false);
  _testing.advance(9000);
  assert.equal(c.get('default'), undefined);
  assert.equal(c.stats().expirations, 2);
});

test('maxBytes bounds the directory', { skip: needsDisk }, () => {
  const c = new DiskCache({ path: tmpDir(), maxBytes: 50_000 });
  for (let i = 0; i < 200; i++) c.set(i, require('node:crypto').randomBytes(1000));
  const s = c.stats();
  assert.ok(s.bytes <= 50_000, String(s.bytes));
  assert.ok(s.evictions > 100);
  assert.notEqual(c.get(199), undefined);
  assert.throws(() => c.set('huge', Buffer.alloc(60_000)), {
    name: 'RangeError',
    code: 'ERR_TWINCACHE_VALUE_TOO_LARGE',
  });
  assert.equal(c.has('huge'), false);
});

test('bad options throw TypeError / RangeError naming the option, and create nothing', () => {
  const dir = tmpDir();
  const cases = [
    [{ path: dir, maxBytes: -1 }, RangeError, 'ERR_TWINCACHE_OUT_OF_RANGE', /maxBytes/],
    [{ path: dir, maxBytes: 'x' }, TypeError, 'ERR_TWINCACHE_INVALID_ARGUMENT', /maxBytes/],
    [{ path: dir, ttl: 0 }, RangeError, 'ERR_TWINCACHE_OUT_OF_RANGE', /ttl/],
    [{ path: dir, codec: 'xml' }, RangeError, 'ERR_TWINCACHE_OUT_OF_RANGE', /codec/],
    [{ path: dir, codec: 1 }, TypeError, 'ERR_TWINCACHE_INVALID_ARGUMENT', /codec/],
    [{ path: 5 }, TypeError, 'ERR_TWINCACHE_INVALID_ARGUMENT', /path/],
    [{ path: dir, max: 5 }, TypeError, 'ERR_TWINCACHE_INVALID_ARGUMENT', /options/],
  ];
  for (const [o, type, code, message] of cases) {
    assert.throws(
      () => new DiskCache(o),
      (err) => {
        assert.ok(err instanceof type, `${JSON.stringify(o)}: ${err}`);
        assert.equal(err.code, code);
        assert.match(err.message, message);
        return true;
      },
    );
  }
  assert.equal(fs.existsSync(dir), false);
  const c = new DiskCache({ path: dir });
  assert.throws(() => c.set('k', 1, { ttl: -1 }), { code: 'ERR_TWINCACHE_OUT_OF_RANGE' });
  assert.throws(() => c.set(Symbol('s'), 1), { code: 'ERR_TWINCACHE_INVALID_ARGUMENT' });
  assert.equal(c.size, 0);
});

test('a tampered entry is a counted miss, never deserialized', { skip: needsDisk }, () => {
  const dir = tmpDir();
  const c = new DiskCache({ path: dir, codec: 'json' });
  c.set('victim', 'harmless');
  c.flush();
  // Rewrite the value behind the cache's back (Python's stdlib sqlite3 plays the attacker).
  const py = path.join(__dirname, '..', '..', '.venv', 'bin', 'python');
  const r = spawnSync(
    py,
    [
      '-c',
      `
import sqlite3
db = sqlite3.connect(${JSON.stringify(path.join(dir, 'cache.db'))})
db.execute("UPDATE entries SET value = CAST('{\\"evil\\":1}' AS BLOB)")
db.commit()`,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const fresh = new DiskCache({ path: dir, codec: 'json' });
  assert.equal(fresh.get('victim'), undefined);
  assert.equal(fresh.stats().corrupt, 1);
  assert.equal(fresh.has('victim'), false);
});

test('an unusable directory warns once and caches in memory', async () => {
  const dir = tmpDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o777);
  new DiskCache({ path: tmpDir() }); // pure mode: the process's one warning, if not given yet
  await new Promise((r) => setImmediate(r));
  const before = warnings.length;
  const a = new DiskCache({ path: dir });
  const b = new DiskCache({ path: dir });
  await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
  if (persistent) {
    assert.equal(warnings.length - before, 1, 'one warning for the directory');
    assert.match(warnings[before], /world-writable/);
  } else {
    assert.equal(warnings.length - before, 0, 'pure mode warned once already');
  }
  assert.equal(a.persistent, false);
  a.set('k', [1]);
  assert.deepEqual(a.get('k'), [1]);
  assert.equal(b.get('k'), undefined, 'memory-only caches are per instance');
  assert.equal(fs.existsSync(path.join(dir, 'cache.db')), false);
});

test(
  'pure mode: one warning with a code, the API works in memory',
  { skip: !pure && 'native mode' },
  async () => {
    await new Promise((r) => setImmediate(r));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /TWINCACHE_PURE=1/);
    const before = warnings.length;
    const c = new DiskCache({ path: tmpDir() });
    await new Promise((r) => setImmediate(r));
    assert.equal(warnings.length, before, 'one warning per process');
    c.set('a', 1);
    assert.equal(c.get('a'), 1);
    assert.equal(c.persistent, false);
  },
);

test('memoize with backend disk: hits across instances, keyed by content', () => {
  const dir = tmpDir();
  let calls = 0;
  const work = (a, b) => {
    calls++;
    return { sum: a.x + b[0] };
  };
  const f = memoize(work, { backend: 'disk', path: dir });
  assert.deepEqual(f({ x: 1 }, [2]), { sum: 3 });
  assert.deepEqual(f({ x: 1 }, [2]), { sum: 3 });
  assert.equal(calls, 1);
  f({ x: 2 }, [2]);
  assert.equal(calls, 2);
  f.cache.flush();
  const g = memoize(work, { backend: 'disk', path: dir });
  g({ x: 1 }, [2]);
  assert.equal(calls, persistent ? 2 : 3);
  assert.equal(f.stats().hits, 1);
  assert.equal(f.delete({ x: 1 }, [2]), true);
  f({ x: 1 }, [2]);
  assert.equal(calls, persistent ? 3 : 4);
  // clear() removes this function's entries only: the directory is shared.
  const other = new DiskCache({ path: dir });
  other.set('unrelated', 1);
  assert.equal(f.clear(), 2);
  assert.equal(other.get('unrelated'), 1);
  f({ x: 1 }, [2]);
  assert.equal(calls, persistent ? 4 : 5);
});

test('memoize with backend disk: promises share one call, rejections are not stored', async () => {
  const dir = tmpDir();
  let calls = 0;
  let fail = true;
  const f = memoize(
    async (x) => {
      calls++;
      await new Promise((r) => setImmediate(r));
      if (fail) throw new Error('boom');
      return x * 2;
    },
    { backend: 'disk', path: dir },
  );
  await assert.rejects(Promise.all([f(1), f(1)]), /boom/);
  assert.equal(calls, 1);
  fail = false;
  const [a, b] = await Promise.all([f(1), f(1)]);
  assert.equal(a, 2);
  assert.equal(b, 2);
  assert.equal(calls, 2);
  const hit = f(1);
  assert.ok(hit instanceof Promise, 'a hit of a promise-returning function is a promise');
  assert.equal(await hit, 2);
  assert.equal(calls, 2);
});

test('editing a function invalidates, reformatting does not', { skip: needsDisk }, () => {
  const dir = tmpDir();
  const counter = path.join(path.dirname(dir), 'counter');
  const run = (body) => {
    const code = `
      const fs = require('node:fs');
      const { memoize } = require(${JSON.stringify(lib)});
      const work = memoize(function work(x) {
        ${body}
        fs.appendFileSync(${JSON.stringify(counter)}, 'x');
        return x + 1;
      }, { backend: 'disk', path: ${JSON.stringify(dir)} });
      if (work(41) !== 42) process.exit(3);`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return fs.existsSync(counter) ? fs.readFileSync(counter, 'utf8').length : 0;
  };
  assert.equal(run('let y = 1;'), 1);
  assert.equal(run('let y = 1;'), 1);
  assert.equal(run('let   y=1;   // a comment'), 1);
  assert.equal(run('let y = 2;'), 2);
  assert.equal(_testing.normalizeSource('a  +  b /* c */ // d\n + "x  y"'), 'a+b+"x  y"');
});

test('fetch shares one load per key', async () => {
  const c = new DiskCache({ path: tmpDir() });
  let loads = 0;
  const load = async (k) => {
    loads++;
    return `v-${k}`;
  };
  const [a, b] = await Promise.all([c.fetch('k', load), c.fetch('k', load)]);
  assert.equal(a, 'v-k');
  assert.equal(b, 'v-k');
  assert.equal(await c.fetch('k', load), 'v-k');
  assert.equal(loads, 1);
});

test("codec 'json' refuses what JSON would change, with a code, and stores nothing", () => {
  // Regression: JSON.stringify turned NaN into null, a Map into {}, a Date into a string and
  // dropped undefined, and threw on BigInt without a code; docs/persistence.md promises a
  // TypeError naming the codec. Python's json codec refuses the same values.
  class Point {
    constructor() {
      this.x = 1;
    }
  }
  const cycle = { a: 1 };
  cycle.self = cycle;
  const cases = [
    [NaN, 'the value is NaN'],
    [{ a: [1, Infinity] }, 'the value.a[1] is Infinity'],
    [new Map([[1, 'a']]), 'the value is a Map'],
    [{ s: new Set([1]) }, 'the value.s is a Set'],
    [{ d: new Date(5) }, 'the value.d is a Date'],
    [10n, 'the value is bigint 10'],
    [{ u: undefined }, 'the value.u is undefined'],
    [undefined, 'the value is undefined'],
    [[1, () => 1], 'the value[1] is a function'],
    [new Point(), 'the value is a Point'],
    [{ b: Buffer.from('x') }, 'the value.b is a Buffer'],
    [{ [Symbol('k')]: 1 }, 'the value has symbol keys'],
    [cycle, 'the value.self refers to itself (a cycle)'],
  ];
  const c = new DiskCache({ path: tmpDir(), codec: 'json' });
  c.set('k', 'before');
  for (const [value, why] of cases) {
    assert.throws(
      () => c.set('k', value),
      {
        name: 'TypeError',
        code: 'ERR_TWINCACHE_INVALID_ARGUMENT',
        message: `codec 'json' cannot store this value: ${why}; use codec 'v8'`,
      },
      why,
    );
    assert.equal(c.get('k'), 'before');
  }
  c.set('k', { a: [1, 2.5, 'x', null, true], o: Object.create(null) });
  assert.deepEqual(c.get('k'), { a: [1, 2.5, 'x', null, true], o: {} });
});

test("codec 'v8' refuses what it cannot clone with a TypeError and a code", () => {
  const c = new DiskCache({ path: tmpDir() });
  for (const value of [() => 1, { f: () => 1 }, Symbol('s'), new WeakMap()]) {
    assert.throws(
      () => c.set('k', value),
      (err) => {
        assert.equal(err.name, 'TypeError');
        assert.equal(err.code, 'ERR_TWINCACHE_INVALID_ARGUMENT');
        assert.match(
          err.message,
          /^codec 'v8' cannot store this value \(.* could not be cloned\.\)$/,
        );
        return true;
      },
    );
    assert.equal(c.has('k'), false);
  }
  const f = memoize(() => () => 1, { backend: 'disk', path: tmpDir() });
  assert.throws(() => f(), { name: 'TypeError', code: 'ERR_TWINCACHE_INVALID_ARGUMENT' });
});

// ---- reads that are not use, prune, dispose (docs/persistence.md, "Freshness and control") -------

test('peek and getRemainingTTL are not use', (t) => {
  _testing.useManualClock(1_700_000_000_000);
  t.after(() => _testing.useRealClock());
  const c = new DiskCache({ path: tmpDir(), codec: 'json', ttl: 10_000 });
  c.set('a', [1, 2]);
  c.set('n', 1, { ttl: 5000 });
  c.flush();
  const before = c.stats();
  assert.deepEqual(c.peek('a'), [1, 2]);
  assert.equal(c.peek('b'), undefined);
  assert.equal(c.getRemainingTTL('a'), 10_000);
  assert.equal(c.getRemainingTTL('b'), 0);
  _testing.advance(4000);
  assert.equal(c.getRemainingTTL('a'), 6000);
  const after = c.stats();
  assert.deepEqual([after.hits, after.misses], [before.hits, before.misses]);
  const forever = new DiskCache({ path: tmpDir() });
  forever.set('k', 1);
  assert.equal(forever.getRemainingTTL('k'), Infinity);
  _testing.advance(6000);
  assert.equal(c.peek('a'), undefined);
  assert.equal(c.getRemainingTTL('a'), 0);
  assert.equal(c.prune(), 2);
  assert.equal(c.size, 0);
});

test('dispose is told each removal with its reason', (t) => {
  _testing.useManualClock(1_700_000_000_000);
  t.after(() => _testing.useRealClock());
  const told = [];
  const c = new DiskCache({
    path: tmpDir(),
    codec: 'json',
    dispose: (v, k, reason) => told.push([k, v, reason]),
  });
  c.set('a', 1);
  c.set('a', 2); // replaced
  c.set('b', 3);
  c.delete('b'); // deleted
  c.set('t', 'short', { ttl: 1000 });
  _testing.advance(1000);
  assert.equal(c.prune(), 1); // expired
  c.set('r', 'read', { ttl: 1000 });
  _testing.advance(1000);
  assert.equal(c.get('r'), undefined); // a read that meets it expired
  c.set(['x', 1], { k: 1 });
  c.clear(); // cleared
  assert.deepEqual(told, [
    ['a', 1, 'replaced'],
    ['b', 3, 'deleted'],
    ['t', 'short', 'expired'],
    ['r', 'read', 'expired'],
    ['a', 2, 'cleared'],
    [['x', 1], { k: 1 }, 'cleared'],
  ]);
  assert.equal(c.delete('gone'), false);
  assert.equal(told.length, 6);
});

test(
  'dispose: size culling by prune, re-entrant callbacks, a throwing dispose',
  {
    skip: needsDisk,
  },
  (t) => {
    _testing.useManualClock(1_700_000_000_000);
    t.after(() => _testing.useRealClock());
    const dir = tmpDir();
    const big = new DiskCache({ path: dir, codec: 'json' }); // unbounded: past the next's budget
    for (let i = 0; i < 6; i++) {
      big.set(`k${i}`, 'v'.repeat(1000) + i);
      big.flush();
      _testing.advance(2000); // access times have a 1 s resolution
    }
    const told = [];
    const small = new DiskCache({
      path: dir,
      codec: 'json',
      maxBytes: 3600,
      dispose: (v, k, reason) => told.push([k, v.slice(-1), reason]),
    });
    assert.equal(small.prune(), 3);
    assert.deepEqual(told, [
      ['k0', '0', 'evicted'],
      ['k1', '1', 'evicted'],
      ['k2', '2', 'evicted'],
    ]);
    const seen = [];
    const warned = [];
    const onWarning = (w) => {
      if (w.code === 'ERR_TWINCACHE_DISPOSE') warned.push(w.message);
    };
    process.on('warning', onWarning);
    t.after(() => process.off('warning', onWarning));
    const c = new DiskCache({
      path: tmpDir(),
      codec: 'json',
      dispose: (v, k, reason) => {
        seen.push([k, reason, c.get(k), c.size]); // the removal is done: the cache is usable
        if (reason === 'deleted') c.set('after', v);
        if (k === 'boom') throw new Error('callback failed');
      },
    });
    c.set('k', 1);
    c.delete('k');
    assert.equal(c.get('after'), 1);
    c.set('boom', 1);
    c.delete('boom'); // does not throw
    c.set('z', 2);
    assert.equal(c.get('z'), 2);
    assert.deepEqual(seen[0], ['k', 'deleted', undefined, 0]);
    assert.deepEqual(seen[1].slice(0, 2), ['boom', 'deleted']);
    return new Promise((resolve) => setImmediate(resolve)).then(() => {
      assert.deepEqual(warned, ['dispose threw: callback failed']);
    });
  },
);

test('dispose must be a function', () => {
  assert.throws(() => new DiskCache({ path: tmpDir(), dispose: 3 }), {
    name: 'TypeError',
    message: /dispose must be a function/,
  });
});
