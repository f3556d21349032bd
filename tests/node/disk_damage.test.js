'use strict';
// Damaged files and full disks (issue 14; docs/persistence.md "Damaged databases", "Full
// disks"): a cache.db with garbage over its header, cut short or not twincache's is moved aside
// with one warning (code TWINCACHE_DISK_DAMAGED) and the cache keeps working; a damaged page is
// a counted miss, never a throw; on a full disk (a 2 MiB tmpfs, mounted when permitted) a write
// is a counted write error thrown by flush(), and delete() and clear() free space. Runs native
// and TWINCACHE_PURE=1 (Node 20 has no SQLite: memory only there, the files are never read).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { DiskCache } = require('twincache');
const { _testing } = require('../../node/lib/disk.js');

const persistent = _testing.diskAddon().addon !== null;
const needsDisk = persistent ? false : 'pure mode: Node 20 has no SQLite, DiskCache is memory-only';
const PAGE = 16384;

function tmpDir() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-node-damage-'));
  return path.join(root, 'cache');
}

const damaged = [];
process.on('warning', (w) => {
  if (w.code === 'TWINCACHE_DISK_DAMAGED') damaged.push(w.message);
});
const tick = () => new Promise((resolve) => setImmediate(resolve));

// A directory holding `bytes` as its cache.db (mode 0700 / 0600, as the store makes them).
function dirWithDatabase(bytes) {
  const dir = tmpDir();
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'cache.db'), bytes, { mode: 0o600 });
  return dir;
}

// n entries k0..k{n-1} written by a child process: its exit closes the database, which moves
// the WAL into cache.db (the file the tests then damage).
function writeInChild(dir, n, size) {
  const script = `const { DiskCache } = require(${JSON.stringify(require.resolve('twincache'))});
    const c = new DiskCache({ path: ${JSON.stringify(dir)} });
    for (let i = 0; i < ${n}; i++) c.set('k' + i, String(i).repeat(${size}));
    c.flush();`;
  const r = spawnSync(process.execPath, ['-e', script]);
  assert.equal(r.status, 0, String(r.stderr));
}

function asideFiles(dir) {
  return fs.readdirSync(dir).filter((f) => /^cache\.db\.corrupt-.*\d$/.test(f));
}

// One TWINCACHE_DISK_DAMAGED warning naming the moved file (kept, mode 0600) in native mode,
// none in pure mode; either way the cache works.
async function expectMovedAside(dir, c, before) {
  await tick();
  const messages = damaged.slice(before);
  if (persistent) {
    const aside = asideFiles(dir);
    assert.equal(aside.length, 1, String(aside));
    assert.equal(messages.length, 1, String(messages));
    assert.match(messages[0], new RegExp(`moved it to ${path.join(dir, aside[0])}`));
    assert.equal(fs.statSync(path.join(dir, aside[0])).mode & 0o777, 0o600);
  } else {
    assert.deepEqual(messages, []);
  }
  assert.equal(c.persistent, persistent);
  c.set('fresh', { v: 1 });
  assert.deepEqual(c.get('fresh'), { v: 1 });
}

test('garbage over the header: moved aside, one warning, the cache works', async () => {
  const before = damaged.length;
  const dir = dirWithDatabase(crypto.randomBytes(4 * PAGE));
  const c = new DiskCache({ path: dir, codec: 'json' }); // SIGSEGV (native) before the fix
  await expectMovedAside(dir, c, before);
  c.flush();
  const again = new DiskCache({ path: dir, codec: 'json' });
  await tick();
  assert.equal(damaged.length, before + (persistent ? 1 : 0)); // the fresh file opens quietly
  if (persistent) assert.deepEqual(again.get('fresh'), { v: 1 });
});

test('a foreign SQLite database is moved aside, not adopted', { skip: needsDisk }, async (t) => {
  const dir = tmpDir();
  fs.mkdirSync(dir, { mode: 0o700 });
  const db = path.join(dir, 'cache.db');
  // Another program's database (made with Python's sqlite3: Node 20 has no SQLite).
  const script = [
    'import sqlite3, sys',
    'c = sqlite3.connect(sys.argv[1])',
    'c.execute("CREATE TABLE entries(x)")',
    'c.execute("INSERT INTO entries VALUES (42)")',
    'c.commit()',
  ].join('\n');
  const r = spawnSync('python3', ['-c', script, db]);
  if (r.status !== 0) {
    t.skip(`python3 cannot make an SQLite file: ${String(r.stderr).trim()}`);
    return;
  }
  fs.chmodSync(db, 0o600);
  const before = damaged.length;
  const c = new DiskCache({ path: dir, codec: 'json' });
  await expectMovedAside(dir, c, before);
});

test('a database cut short: every call answers, one warning', { skip: needsDisk }, async () => {
  const dir = tmpDir();
  writeInChild(dir, 200, 300);
  const db = path.join(dir, 'cache.db');
  const size = fs.statSync(db).size;
  assert.ok(size > 8 * PAGE);
  fs.truncateSync(db, Math.floor(size / 2));
  const before = damaged.length;
  const c = new DiskCache({ path: dir, codec: 'json' });
  for (let i = 0; i < 200; i++) c.get(`k${i}`); // never a throw
  assert.equal(c.size, 0);
  await expectMovedAside(dir, c, before);
});

test(
  'a flipped bit in every page is a counted miss, never a throw',
  { skip: needsDisk },
  async () => {
    const dir = tmpDir();
    const n = 300;
    writeInChild(dir, n, 300);
    const db = path.join(dir, 'cache.db');
    const data = fs.readFileSync(db);
    const pages = Math.floor(data.length / PAGE);
    assert.ok(pages > 10);
    for (let p = 1; p < pages; p++) data[p * PAGE + ((p * 7919) % PAGE)] ^= 0x10;
    fs.writeFileSync(db, data);
    const before = damaged.length;
    const c = new DiskCache({ path: dir });
    let misses = 0;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < n; i++) {
        const v = c.get(`k${i}`);
        if (v === undefined) misses++;
        else assert.equal(v, String(i).repeat(300));
      }
    }
    const s = c.stats();
    assert.ok(misses > 0);
    assert.ok(s.corrupt >= 1, JSON.stringify(s));
    assert.equal(s.hits + s.misses, 2 * n);
    await tick();
    assert.ok(damaged.length - before <= 1);
    assert.ok(asideFiles(dir).length <= 1);
    c.set('after', 'ok');
    assert.equal(c.get('after'), 'ok');
    c.delete('k7');
    c.clear();
    assert.equal(c.size, 0);
  },
);

// Issue 14 item 6: a reader opened the FIFO and waited forever for a writer. Side files are
// opened non-blocking and must be regular files: anything else is a corrupt entry, dropped.
test('a blob replaced by a FIFO is a counted corrupt miss', { skip: needsDisk }, () => {
  const dir = tmpDir();
  const big = crypto.randomBytes(512 * 1024).toString('base64'); // its own file in blobs/
  const c = new DiskCache({ path: dir });
  c.set('big', big);
  c.set('small', 'y');
  c.flush();
  const blobs = fs.readdirSync(path.join(dir, 'blobs'));
  assert.equal(blobs.length, 1);
  const blob = path.join(dir, 'blobs', blobs[0]);
  fs.unlinkSync(blob);
  const r = spawnSync('mkfifo', [blob]);
  assert.equal(r.status, 0, String(r.stderr));
  const reader = new DiskCache({ path: dir }); // nothing in its memory tier
  assert.equal(reader.get('big'), undefined);
  assert.equal(reader.stats().corrupt, 1);
  assert.equal(reader.has('big'), false, 'the damaged entry is dropped');
  assert.equal(reader.get('small'), 'y');
});

// ---- full disks -------------------------------------------------------------------------------

// A 2 MiB tmpfs; undefined (and the reason in skipWhy) where mount is not permitted.
function mountSmall(t) {
  const mnt = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'twincache-node-full-')), 'mnt');
  fs.mkdirSync(mnt);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mnt]);
  if (r.status !== 0) {
    t.skip(`cannot mount a 2 MiB tmpfs (${String(r.stderr).trim()}): full-disk tests need root`);
    return undefined;
  }
  t.after(() => spawnSync('umount', ['-l', mnt]));
  return mnt;
}

function fillDisk(mnt) {
  const fd = fs.openSync(path.join(mnt, 'filler'), 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch {
    // ENOSPC: full
  } finally {
    fs.closeSync(fd);
  }
}

test('full disk: a write is a counted error thrown by flush()', { skip: needsDisk }, (t) => {
  const mnt = mountSmall(t);
  if (mnt === undefined) return;
  const c = new DiskCache({ path: path.join(mnt, 'cache'), codec: 'json' });
  c.set('a', 1);
  c.flush();
  fillDisk(mnt);
  c.set('big', crypto.randomBytes(300000).toString('base64'));
  assert.throws(
    () => c.flush(),
    (e) => e.code === 'ERR_TWINCACHE_IO_ERROR' && /database or disk is full/.test(e.message),
  );
  assert.equal(c.stats().writeErrors, 1);
  c.flush(); // thrown once
});

test('full disk: delete() and clear() free space', { skip: needsDisk }, (t) => {
  const mnt = mountSmall(t);
  if (mnt === undefined) return;
  const dir = path.join(mnt, 'cache');
  const c = new DiskCache({ path: dir, codec: 'json' });
  for (let i = 0; i < 8; i++) c.set(`k${i}`, crypto.randomBytes(6000).toString('base64'));
  c.set('large', crypto.randomBytes(150000).toString('base64')); // a file in blobs/
  c.flush();
  fillDisk(mnt);
  assert.equal(c.delete('k3'), true);
  assert.equal(c.has('k3'), false);
  c.clear();
  assert.equal(c.size, 0);
  const s = c.stats();
  assert.deepEqual([s.items, s.bytes], [0, 0]);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'blobs')), []);
  fs.unlinkSync(path.join(mnt, 'filler'));
  c.set('again', 'v');
  c.flush();
  assert.equal(new DiskCache({ path: dir, codec: 'json' }).get('again'), 'v');
});
