'use strict';
// Tags and metadata on Node's DiskCache (docs/persistence.md, "Tags, metadata and queries"):
// set(key, value, { tags, meta }), query({ tag, where }) without loading values, evict(tag) in
// one transaction, bad input, and the same tables as Python's (an entry tagged here is listed
// by Python's query). Native only: under TWINCACHE_PURE=1 DiskCache is memory-only (skipped
// with the reason; query() is [] and evict() 0 there, checked).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { DiskCache } = require('twincache');
const { _testing } = require('../../node/lib/disk.js');

const persistent = _testing.diskAddon().addon !== null;
const needsDisk = persistent ? false : 'pure mode: Node 20 has no SQLite, DiskCache is memory-only';
const python = path.join(__dirname, '..', '..', '.venv', 'bin', 'python');

function tmpDir() {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-tags-')), 'cache');
}

test('query lists tags and meta, evict removes by tag', { skip: needsDisk }, () => {
  const c = new DiskCache({ path: tmpDir(), codec: 'json' });
  c.set('plain', 1);
  c.set('a', 'x', { tags: ['run-1', 'raw'], meta: { owner: 'ana', n: 3 } });
  c.set('b', [1, 2], { tags: ['run-1'], meta: { owner: 'bo' }, ttl: 60_000 });
  const rows = Object.fromEntries(c.query().map((r) => [r.key, r]));
  assert.deepEqual(Object.keys(rows).sort(), ['a', 'b', 'plain']);
  assert.deepEqual(rows.a.tags, ['raw', 'run-1']);
  assert.deepEqual(rows.a.meta, { owner: 'ana', n: 3 });
  assert.equal(rows.a.expires, null);
  assert.ok(rows.b.expires > rows.b.created && typeof rows.b.created === 'number');
  assert.deepEqual(rows.plain.tags, []);
  assert.deepEqual(
    c.query({ tag: 'raw' }).map((r) => r.key),
    ['a'],
  );
  assert.deepEqual(
    c.query({ where: { owner: 'bo' } }).map((r) => r.key),
    ['b'],
  );
  assert.deepEqual(
    c.query({ tag: 'run-1', where: { n: 3 } }).map((r) => r.key),
    ['a'],
  );
  c.set('a', 'y'); // a new value drops the old tags
  assert.deepEqual(
    c.query({ tag: 'raw' }).map((r) => r.key),
    [],
  );
  assert.equal(c.evict('run-1'), 1);
  assert.deepEqual([...c.keys()].sort(), ['a', 'plain']);
  assert.equal(c.get('b'), undefined);
});

test('bad input is a typed error naming the parameter', () => {
  const c = new DiskCache({ path: tmpDir() });
  assert.throws(() => c.set('k', 1, { tags: 'one' }), {
    name: 'TypeError',
    message: /tags must be/,
  });
  assert.throws(() => c.set('k', 1, { meta: [1] }), { name: 'TypeError', message: /meta must be/ });
  assert.throws(() => c.set('k', 1, { meta: { f: NaN } }), { message: /meta must hold JSON/ });
  assert.equal(c.has('k'), false);
  assert.throws(() => c.evict(''), { name: 'TypeError', message: /tag must be/ });
  assert.throws(() => c.query({ tag: 3 }), { name: 'TypeError', message: /tag must be/ });
  if (!persistent) {
    assert.deepEqual(c.query(), []);
    assert.equal(c.evict('x'), 0);
  }
});

test('Python lists what Node tagged', { skip: needsDisk }, (t) => {
  const probe = spawnSync(python, ['-c', 'import twincache'], { encoding: 'utf8' });
  if (probe.status !== 0) return t.skip(`no Python with twincache at ${python}`);
  const c = new DiskCache({ path: tmpDir(), codec: 'json' });
  c.set('from-node', 1, { tags: ['n'], meta: { lang: 'js' } });
  c.flush();
  const out = spawnSync(
    python,
    [
      '-c',
      'import sys, twincache\n' +
        'print([(r["key"], r["tags"], r["meta"]) for r in twincache.DiskCache(sys.argv[1]).query(tag="n")])\n',
      c.path,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(out.status, 0, out.stderr);
  assert.equal(out.stdout.trim(), "[('from-node', ['n'], {'lang': 'js'})]");
});
