'use strict';
// The Redis tier's shared vectors (tests/vectors/redis/envelopes.json, docs/redis.md "Test
// vectors"), checked against Node: entry names, function scopes and envelopes must come out
// byte for byte as Python writes them, read back to the same values, and the invalid envelopes
// must give the listed outcomes. No Redis server needed.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const env = require('../../node/lib/redis_envelope');
const { encodeKey } = require('../../node/lib/keys');

const vectors = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'vectors', 'redis', 'envelopes.json'), 'utf8'),
);
const SECRET = Buffer.from(vectors.secret, 'utf8');
const NS = vectors.namespace;

// Typed key input (docs/keys.md, "Vectors") -> the JS value, for the kinds these vectors use.
function fromInput(x) {
  if (x === null || typeof x !== 'object') return x;
  const [[kind, v]] = Object.entries(x);
  switch (kind) {
    case 'int':
      return Number.isSafeInteger(Number(v)) ? Number(v) : BigInt(v);
    case 'float':
      return v;
    case 'str':
      return v;
    case 'bytes':
      return Buffer.from(v, 'hex');
    case 'list':
      return v.map(fromInput);
    case 'map':
      return new Map(v.map(([k, e]) => [fromInput(k), fromInput(e)]));
    default:
      throw new Error(`unknown typed input ${JSON.stringify(x)}`);
  }
}

function valueOf(v) {
  return v !== null && typeof v === 'object' && 'bytes' in v && Object.keys(v).length === 1
    ? Buffer.from(v.bytes, 'hex')
    : v;
}

test('entry names: the key encoding and its XXH3-128 under the namespace', () => {
  assert.ok(vectors.names.length >= 10);
  for (const n of vectors.names) {
    const encoded = env.encodeEntryKey(fromInput(n.key));
    assert.equal(encoded.toString('hex'), n.encoding, JSON.stringify(n.key));
    assert.equal(env.entryName(NS, encoded), n.name, JSON.stringify(n.key));
  }
});

test("function scopes and a function entry's name", () => {
  for (const s of vectors.scopes) assert.equal(env.functionScope(s.identity), s.scope);
  const key = encodeKey(['twincache.fn/1', 'node', 'add', '0'.repeat(32), [1, 2]]);
  assert.equal(key.toString('hex'), vectors.scoped.encoding);
  assert.equal(env.entryName(NS, key, vectors.scoped.scope), vectors.scoped.name);
});

function checkSealed(vs, secret) {
  for (const e of vs) {
    const key = env.encodeEntryKey(fromInput(e.key));
    const value = valueOf(e.value);
    const [codec, data] = env.dumps(env.CODEC_JSON, value);
    assert.equal(codec, e.codec === 'raw' ? env.CODEC_RAW : env.CODEC_JSON, e.name);
    assert.equal(data.toString('hex'), e.data, e.name);
    const sealed = env.seal(secret, e.name, key, codec, data);
    assert.equal(sealed.toString('hex'), e.envelope, `${e.name}: the envelope, byte for byte`);
    const opened = env.openEnvelope(secret, e.name, key, Buffer.from(e.envelope, 'hex'));
    assert.equal(typeof opened, 'object', e.name);
    assert.deepEqual(env.loads(opened.codec, opened.data), value, e.name);
    assert.deepEqual(opened.key, key);
  }
}

test('envelopes: written byte for byte, read back to the value', () => {
  assert.ok(vectors.envelopes.length >= 5);
  checkSealed(vectors.envelopes, SECRET);
});

test('unsigned envelopes (the empty secret, codec json)', () => {
  checkSealed(vectors.unsigned, Buffer.alloc(0));
});

const zstd = env.zstd();
test(
  'compressed envelopes decode to their value',
  { skip: zstd === null ? 'no zstd here (disk addon not loaded, no zlib zstd)' : false },
  () => {
    for (const e of vectors.compressed) {
      const key = env.encodeEntryKey(fromInput(e.key));
      const opened = env.openEnvelope(SECRET, e.name, key, Buffer.from(e.envelope, 'hex'));
      assert.equal(typeof opened, 'object', e.name);
      assert.equal(opened.flags & env.FLAG_ZSTD, env.FLAG_ZSTD);
      assert.deepEqual(env.loads(opened.codec, opened.data), e.value);
      // And this process's own compressed envelopes read back.
      const [codec, data] = env.dumps(env.CODEC_JSON, e.value);
      const mine = env.seal(SECRET, e.name, key, codec, data);
      assert.equal(mine[2] & env.FLAG_ZSTD, env.FLAG_ZSTD);
      assert.ok(mine.length < data.length);
      assert.deepEqual(JSON.parse(env.openEnvelope(SECRET, e.name, key, mine).data), e.value);
    }
  },
);

test(
  'without zstd, a compressed envelope is unreadable and writes are uncompressed',
  {
    skip: zstd !== null ? 'zstd is available here' : false,
  },
  () => {
    const e = vectors.compressed[0];
    const key = env.encodeEntryKey(fromInput(e.key));
    assert.equal(
      env.openEnvelope(SECRET, e.name, key, Buffer.from(e.envelope, 'hex')),
      'unreadable',
    );
    const [codec, data] = env.dumps(env.CODEC_JSON, e.value);
    assert.equal(env.seal(SECRET, e.name, key, codec, data)[2], 0);
  },
);

test('envelopes with freshness fields (flag 0x04) are written and read byte for byte', () => {
  assert.ok(vectors.fresh.length >= 2);
  for (const e of vectors.fresh) {
    const key = env.encodeEntryKey(fromInput(e.key));
    const fields = [e.stale_ms, e.delta_us];
    const data = Buffer.from(e.data, 'hex');
    const sealed = env.seal(SECRET, e.name, key, env.CODEC_JSON, data, 0, true, fields);
    assert.equal(sealed.toString('hex'), e.envelope, e.name);
    const opened = env.openEnvelope(SECRET, e.name, key, Buffer.from(e.envelope, 'hex'));
    assert.equal(opened.flags, env.FLAG_FRESH);
    assert.deepEqual(opened.fields, fields);
    assert.deepEqual(env.loads(opened.codec, opened.data), e.value);
  }
});

test('an envelope read for another key of the same length, short or long, is other_key', () => {
  // The stored key is compared byte for byte (a loop up to 256 bytes, Buffer#compare past it):
  // the same length with one byte changed, first or last, is another key; the same bytes open.
  for (const text of ['k1', 'x'.repeat(300) + '1']) {
    const key = env.encodeEntryKey(text);
    const name = env.entryName(NS, key);
    const [codec, data] = env.dumps(env.CODEC_JSON, { v: text.length });
    const sealed = env.seal(SECRET, name, key, codec, data);
    assert.deepEqual(env.loads(env.CODEC_JSON, env.openEnvelope(SECRET, name, key, sealed).data), {
      v: text.length,
    });
    for (const at of [0, key.length - 1]) {
      const other = Buffer.from(key);
      other[at] ^= 1;
      assert.equal(other.length, key.length);
      assert.equal(
        env.openEnvelope(SECRET, name, other, sealed),
        'other_key',
        `${text.length} ${at}`,
      );
    }
  }
});

test('invalid envelopes give the listed outcome', () => {
  const outcomes = new Set();
  for (const e of vectors.invalid) {
    const key = env.encodeEntryKey(fromInput(e.key));
    const got = env.openEnvelope(SECRET, e.name, key, Buffer.from(e.envelope, 'hex'));
    assert.equal(got, e.outcome, e.why);
    outcomes.add(got);
  }
  assert.deepEqual([...outcomes].sort(), ['corrupt', 'other_key', 'unreadable']);
});

test('a MAC binds the name: the same envelope under another name is corrupt', () => {
  const e = vectors.envelopes[0];
  const key = env.encodeEntryKey(fromInput(e.key));
  const raw = Buffer.from(e.envelope, 'hex');
  assert.equal(typeof env.openEnvelope(SECRET, e.name, key, raw), 'object');
  assert.equal(env.openEnvelope(SECRET, 'other:' + e.name.slice(4), key, raw), 'corrupt');
  assert.equal(env.openEnvelope(Buffer.alloc(0), e.name, key, raw), 'corrupt');
});

test('the MAC is HMAC-SHA256 (as crypto.createHmac computes it) for secrets of 0 to 200 bytes', () => {
  const crypto = require('node:crypto');
  const body = crypto.randomBytes(300);
  for (let n = 0; n <= 200; n += 7) {
    const secret = crypto.randomBytes(n);
    const name = `ns:${n}`;
    const prefix = Buffer.concat([
      Buffer.from('twincache/redis/1'),
      Buffer.alloc(4),
      Buffer.from(name),
    ]);
    prefix.writeUInt32LE(name.length, 17);
    const want = crypto.createHmac('sha256', secret).update(prefix).update(body).digest();
    assert.deepEqual(env.mac(secret, name, body), want, `secret of ${n} bytes`);
  }
});

// The MAC's implementation follows the mode: the addon's RedisMac (the core's SHA-256) when the
// addon loads, this package's JavaScript one under TWINCACHE_PURE=1.
test('the MAC runs in the addon natively and in JavaScript when pure', () => {
  const { addon } = require('../../node/lib/binding');
  assert.equal(env._testing.macSource(), addon === null ? 'pure' : 'native');
  if (process.env.TWINCACHE_EXPECT_NATIVE === '1') assert.equal(env._testing.macSource(), 'native');
  if (process.env.TWINCACHE_PURE === '1') assert.equal(env._testing.macSource(), 'pure');
});

// Both implementations sign and verify the same bytes: bodies around SHA-256's block and padding
// boundaries, names longer than the addon's stack buffer, and every tampered byte refused.
test('native and JavaScript MACs agree, and verify refuses any changed byte', (t) => {
  const { addon } = require('../../node/lib/binding');
  if (addon === null) {
    t.skip('no addon (pure mode): only the JavaScript MAC exists');
    return;
  }
  const crypto = require('node:crypto');
  const data = crypto.randomBytes(400);
  const secret = crypto.randomBytes(32);
  const macWith = (source, name, body) => {
    env._testing.useMac(source);
    try {
      return env.mac(secret, name, body);
    } finally {
      env._testing.useMac('native');
    }
  };
  const longName = 'ns:' + 'a'.repeat(300);
  for (const name of ['ns:x', longName]) {
    for (let n = 0; n <= data.length; n += n < 140 ? 1 : 37) {
      const body = data.subarray(0, n);
      const pure = macWith('pure', name, body);
      assert.deepEqual(macWith('native', name, body), pure, `body of ${n} bytes`);
    }
  }
  // An envelope sealed natively opens with either implementation; one changed byte anywhere
  // (header, key, payload, MAC), another name or another secret is corrupt with both.
  const key = encodeKey('k');
  const sealed = env.seal(secret, 'ns:k', key, env.CODEC_JSON, Buffer.from('{"a":1}'));
  for (const source of ['native', 'pure']) {
    env._testing.useMac(source);
    try {
      assert.equal(typeof env.openEnvelope(secret, 'ns:k', key, sealed), 'object', source);
      for (let i = 0; i < sealed.length; i++) {
        const bad = Buffer.from(sealed);
        bad[i] ^= 0x40;
        const got = env.openEnvelope(secret, 'ns:k', key, bad);
        // Byte 0 is the version: another version is unreadable before any MAC check.
        assert.equal(got, i === 0 ? 'unreadable' : 'corrupt', `${source}, byte ${i}`);
      }
      assert.equal(env.openEnvelope(secret, 'ns:j', key, sealed), 'corrupt', source);
      assert.equal(env.openEnvelope(crypto.randomBytes(32), 'ns:k', key, sealed), 'corrupt');
      assert.equal(env.openEnvelope(secret, 'ns:k', key, sealed.subarray(0, 39)), 'corrupt');
    } finally {
      env._testing.useMac('native');
    }
  }
});
