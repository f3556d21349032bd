'use strict';
// redis_envelope.js: the Redis tier's wire format for Node (docs/redis.md is the specification,
// shared with Python's twincache/_redis_envelope.py): entry names, the value envelope (codec,
// flags, zstd, HMAC-SHA256) and the option checks of RedisCache and memoize(fn, { backend:
// 'redis' }). No network here: this module is what tests/vectors/redis/envelopes.json pins.
//
// Reused, not redone: the key encoding and its XXH3-128 (keys.js, docs/keys.md), the disk tier's
// strict codecs (disk.js: json refusing what it cannot hold exactly, v8, Buffers raw), and zstd
// from the disk addon (which links libzstd) or Node's zlib where it has zstd (22.15+). The HMAC
// is the core's (the addon's RedisMac: SHA-256 on the CPU's SHA extensions where present), or
// this file's JavaScript one when there is no addon (TWINCACHE_PURE=1, no binary).
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const { encodeKey, xxh3128Hex } = require('./keys');
const { makeError, typeError, describe, formatDouble } = require('./errors');
const disk = require('./disk');
const { addon } = require('./binding');

const VERSION = 1;
const HEADER_SIZE = 7; // version, codec, flags, key length (u32 LE)
const MAC_SIZE = 32;
const DOMAIN = Buffer.from('twincache/redis/1', 'latin1');
const FLAG_ZSTD = 0x01;
const FLAG_ERROR = 0x02; // a cached error (negative caching: redis_memoize.js cacheErrors)
const FLAG_FRESH = 0x04; // freshness fields precede the payload (stale, earlyRefresh)
const KNOWN_FLAGS = FLAG_ZSTD | FLAG_ERROR | FLAG_FRESH;
// With FLAG_FRESH, after the key encoding: the entry's stale window in ms (u64 LE, < 2^53), then
// the time its value took to compute in microseconds (u32 LE, saturated).
const FRESH_SIZE = 12;
const MAX_DELTA_US = 0xffffffff;
const COMPRESS_THRESHOLD = 4096;
const MAX_VALUE = 512 * 1024 * 1024; // Redis's own limit for a string value
const CODEC_RAW = 0;
const CODEC_PICKLE = 1;
const CODEC_JSON = 2;
const CODEC_V8 = 3;
const MIN_SECRET = 16;
const NAMESPACE_RULE = '1 to 64 characters from A-Z a-z 0-9 _ . -';
const NAMESPACE_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const DEFAULT_NAMESPACE = 'twincache';
const DEFAULT_URL = 'redis://127.0.0.1:6379/0';
const MAX_TIMEOUT_MS = 3600000;

// Outcomes of openEnvelope() other than an opened envelope.
const CORRUPT = 'corrupt'; // MAC failed, or malformed: a counted miss, never decoded
const UNREADABLE = 'unreadable'; // a format, codec or compression this process cannot read
const OTHER_KEY = 'other_key'; // signed, but for another key (an XXH3-128 collision): a miss

// ---- zstd -----------------------------------------------------------------------------------------

// { compress(buf) -> Buffer | null, decompress(buf) -> Buffer | null, source } or null: the disk
// addon's (when it loads and has them), else zlib's (Node 22.15+), else none (then envelopes are
// written uncompressed and compressed ones are unreadable).
let zstdState;
function zstd() {
  if (zstdState !== undefined) return zstdState;
  zstdState = null;
  const { addon } = disk._testing.diskAddon();
  if (addon !== null && typeof addon.zstdCompress === 'function') {
    zstdState = {
      source: 'the disk addon (libzstd)',
      compress: (b) => addon.zstdCompress(b, 1),
      decompress: (b) => addon.zstdDecompress(b, MAX_VALUE),
    };
  } else if (typeof zlib.zstdCompressSync === 'function') {
    const level = zlib.constants.ZSTD_c_compressionLevel;
    const size = zlib.constants.ZSTD_c_contentSizeFlag;
    zstdState = {
      source: "node:zlib's zstd",
      compress: (b) => zlib.zstdCompressSync(b, { params: { [level]: 1, [size]: 1 } }),
      decompress: (b) => {
        try {
          return zlib.zstdDecompressSync(b, { maxOutputLength: MAX_VALUE });
        } catch {
          return null;
        }
      },
    };
  }
  return zstdState;
}

// ---- names ------------------------------------------------------------------------------------------

// The canonical key encoding (docs/keys.md) of a RedisCache key, as a Buffer.
function encodeEntryKey(key, what = 'key') {
  try {
    return encodeKey(key);
  } catch (err) {
    throw makeError('invalid_argument', `${what} cannot name a Redis entry: ${err.message}`);
  }
}

// `<namespace>:<hash>` or `<namespace>:<scope>:<hash>`: hash = XXH3-128 of the key encoding.
function entryName(namespace, encoded, scope) {
  const h = xxh3128Hex(encoded);
  return scope === undefined || scope === null ? `${namespace}:${h}` : `${namespace}:${scope}:${h}`;
}

// `f` + the first 16 hex digits of the XXH3-128 of ["twincache.fn/1", "node", name].
function functionScope(identity) {
  return 'f' + xxh3128Hex(encodeKey(identity)).slice(0, 16);
}

// ---- the envelope -------------------------------------------------------------------------------

// ---- the MAC: HMAC-SHA256(secret, DOMAIN || len(name) u32 LE || name || body) ----------------
//
// Two implementations with equal bytes (tests/node/redis_vectors.test.js checks both against the
// shared vectors and crypto.createHmac), each with two operations: signInto(secret, name, buf,
// end) writes the MAC of buf[0, end) into buf[end, end + 32); verify(secret, name, envelope)
// says whether an envelope's last 32 bytes are the MAC of the rest, compared in constant time.
//
// Native: one addon call each, the body read in place (no copy), the key's pads hashed once per
// secret Buffer (a RedisMac kept in a WeakMap), the comparison in C++. A 1 KiB value's check:
// about 1.2 us in a tight loop, and 2-4 us of CPU per read in context, where the JavaScript MAC
// below cost 17-19 us (docs/benchmarks.md, "The MAC in the addon").
const macs = new WeakMap(); // secret Buffer -> addon RedisMac
function nativeMac(secret) {
  let m = macs.get(secret);
  if (m === undefined) {
    m = new addon.RedisMac(secret, DOMAIN);
    macs.set(secret, m);
  }
  return m;
}

const nativeImpl = {
  source: 'native',
  signInto(secret, name, buf, end) {
    nativeMac(secret).sign(name, buf, end);
  },
  verify(secret, name, envelope) {
    return nativeMac(secret).verify(name, envelope);
  },
};

// Pure: the key's pads made once per secret Buffer (a WeakMap: no per-call conversion of the
// secret) and two one-shot SHA-256 calls (crypto.hash, Node 20.12+). Measured on the issue's
// machine, interleaved in the bench's loops: 6% faster than crypto.createHmac with the secret
// imported once as a KeyObject, whose per-call Hmac object setup shows as the largest item of a
// getMany(100) profile.
const BLOCK = 64;
const pads = new WeakMap(); // secret Buffer -> [inner pad, outer pad]
function padsOf(secret) {
  let p = pads.get(secret);
  if (p === undefined) {
    const key = Buffer.alloc(BLOCK);
    (secret.length > BLOCK ? crypto.createHash('sha256').update(secret).digest() : secret).copy(
      key,
    );
    p = [Buffer.from(key.map((b) => b ^ 0x36)), Buffer.from(key.map((b) => b ^ 0x5c))];
    pads.set(secret, p);
  }
  return p;
}

// The MAC as a 32-character latin1 string: crypto.hash's string output skips the ArrayBuffer a
// Buffer result costs (measured ~1 us of the ~4 a MAC took, two hashes each); the outer block is
// written in a scratch buffer (the call is synchronous).
const outerBlock = Buffer.allocUnsafe(BLOCK + 32);
function macLatin1(secret, name, body) {
  const n = Buffer.byteLength(name, 'latin1');
  const head = BLOCK + DOMAIN.length + 4 + n;
  if (typeof crypto.hash !== 'function') {
    const prefix = Buffer.allocUnsafe(head - BLOCK);
    DOMAIN.copy(prefix, 0);
    prefix.writeUInt32LE(n, DOMAIN.length);
    prefix.latin1Write(name, DOMAIN.length + 4);
    return crypto.createHmac('sha256', secret).update(prefix).update(body).digest('latin1');
  }
  const [inner, outer] = padsOf(secret);
  const msg = Buffer.allocUnsafe(head + body.length);
  inner.copy(msg, 0);
  DOMAIN.copy(msg, BLOCK);
  msg.writeUInt32LE(n, BLOCK + DOMAIN.length);
  msg.latin1Write(name, BLOCK + DOMAIN.length + 4);
  body.copy(msg, head);
  outer.copy(outerBlock, 0);
  outerBlock.latin1Write(crypto.hash('sha256', msg, 'latin1'), BLOCK);
  return crypto.hash('sha256', outerBlock, 'latin1');
}

const expectedMac = Buffer.allocUnsafe(MAC_SIZE); // pureImpl.verify's scratch (synchronous use)
const pureImpl = {
  source: 'pure',
  signInto(secret, name, buf, end) {
    buf.latin1Write(macLatin1(secret, name, buf.subarray(0, end)), end);
  },
  verify(secret, name, envelope) {
    const end = envelope.length - MAC_SIZE;
    expectedMac.latin1Write(macLatin1(secret, name, envelope.subarray(0, end)), 0);
    return crypto.timingSafeEqual(expectedMac, envelope.subarray(end));
  },
};

let macImpl = addon !== null && typeof addon.RedisMac === 'function' ? nativeImpl : pureImpl;

// The MAC of body as a Buffer (tests; the read and write paths use signInto and verify).
function mac(secret, name, body) {
  const buf = Buffer.allocUnsafe(body.length + MAC_SIZE);
  body.copy(buf, 0);
  macImpl.signInto(secret, name, buf, body.length);
  return buf.subarray(body.length);
}

// The envelope stored under `name`: header, key encoding, the freshness fields when `fields` =
// [stale window ms, compute time us] is given (FLAG_FRESH), payload (zstd level 1 when the data is
// at least COMPRESS_THRESHOLD bytes and compresses by 1/16 or more), HMAC.
function seal(secret, name, key, codec, data, flags = 0, compress = true, fields = null) {
  if (compress && data.length >= COMPRESS_THRESHOLD) {
    const z = zstd();
    const packed = z === null ? null : z.compress(data);
    if (packed && packed.length <= data.length - Math.floor(data.length / 16)) {
      data = packed;
      flags |= FLAG_ZSTD;
    }
  }
  const extra = fields === null ? 0 : FRESH_SIZE;
  const end = HEADER_SIZE + key.length + extra + data.length;
  const out = Buffer.allocUnsafe(end + MAC_SIZE);
  out[0] = VERSION;
  out[1] = codec;
  out[2] = fields === null ? flags : flags | FLAG_FRESH;
  out.writeUInt32LE(key.length, 3);
  key.copy(out, HEADER_SIZE);
  if (fields !== null) {
    const at = HEADER_SIZE + key.length;
    out.writeBigUInt64LE(BigInt(Math.min(Math.max(0, fields[0]), Number.MAX_SAFE_INTEGER)), at);
    out.writeUInt32LE(Math.min(Math.max(0, Math.floor(fields[1])), MAX_DELTA_US), at + 8);
  }
  data.copy(out, HEADER_SIZE + key.length + extra);
  macImpl.signInto(secret, name, out, end);
  return out;
}

// Whether key's bytes are envelope's from `at` on (the caller checked the length). A loop for the
// short keys entries have (an 8-byte key: about 20 ns against 120-270 ns for Buffer#compare with
// offsets, whose argument checks cost more than the bytes; a memoized function's keys, with its
// identity, are about 100 bytes), Buffer#compare past 256. Not secret (the MAC was checked
// first): no constant time needed.
function sameBytes(key, envelope, at) {
  const n = key.length;
  if (n > 256) return key.compare(envelope, at, at + n) === 0;
  for (let i = 0; i < n; i++) if (key[i] !== envelope[at + i]) return false;
  return true;
}

// { codec, key, data, flags, fields } of a valid envelope for `key` (any key when null), fields
// = [stale window ms, compute time us] or null; else CORRUPT, UNREADABLE or OTHER_KEY. The MAC is
// checked before anything is decoded.
function openEnvelope(secret, name, key, envelope) {
  const len = envelope.length;
  if (len < HEADER_SIZE + MAC_SIZE) return CORRUPT;
  if (envelope[0] !== VERSION) return UNREADABLE;
  const bodyEnd = len - MAC_SIZE;
  if (!macImpl.verify(secret, name, envelope)) return CORRUPT;
  const codec = envelope[1];
  const flags = envelope[2];
  const end = HEADER_SIZE + envelope.readUInt32LE(3);
  if (end > bodyEnd) return CORRUPT;
  // Compared in place (no subarray on a read's path); the caller's key has the same bytes.
  if (key !== null && (end - HEADER_SIZE !== key.length || !sameBytes(key, envelope, HEADER_SIZE)))
    return OTHER_KEY;
  const storedKey = key !== null ? key : envelope.subarray(HEADER_SIZE, end);
  if (
    flags & ~KNOWN_FLAGS ||
    !(codec === CODEC_RAW || codec === CODEC_JSON || codec === CODEC_V8)
  ) {
    return UNREADABLE;
  }
  let fields = null;
  let start = end;
  if (flags & FLAG_FRESH) {
    if (end + FRESH_SIZE > bodyEnd) return CORRUPT;
    const stale = envelope.readBigUInt64LE(end);
    if (stale > BigInt(Number.MAX_SAFE_INTEGER)) return CORRUPT;
    fields = [Number(stale), envelope.readUInt32LE(end + 8)];
    start += FRESH_SIZE;
  }
  let data = envelope.subarray(start, bodyEnd);
  if (flags & FLAG_ZSTD) {
    const z = zstd();
    if (z === null) return UNREADABLE;
    const unpacked = z.decompress(data);
    if (unpacked === null || unpacked === undefined || unpacked.length > MAX_VALUE) return CORRUPT;
    data = unpacked;
  }
  return { codec, key: storedKey, data, flags, fields };
}

// [codec used, bytes]: Buffers travel raw; json refuses what it cannot hold exactly (TypeError
// naming the codec, from the disk tier's strict codec).
function dumps(codec, value) {
  return disk.encodeValue(codec, value);
}

// The value of a payload; a Buffer (raw) is a copy that owns its memory.
function loads(codec, data) {
  if (codec === CODEC_RAW) return Buffer.from(data);
  return disk.loads(codec, data);
}

// ---- options ------------------------------------------------------------------------------------

function namespaceOption(value) {
  if (value === undefined || value === null) return DEFAULT_NAMESPACE;
  if (typeof value !== 'string')
    throw typeError('namespace', `a string of ${NAMESPACE_RULE}`, value);
  if (!NAMESPACE_RE.test(value)) {
    throw makeError('out_of_range', `namespace must be ${NAMESPACE_RULE} (got '${value}')`);
  }
  return value;
}

// Milliseconds in (0, 3600000]; default 250.
function timeoutOption(value) {
  if (value === undefined) return 250;
  const range = `a number of milliseconds in (0, ${MAX_TIMEOUT_MS}]`;
  if (typeof value !== 'number') throw typeError('timeout', range, value);
  if (!(value > 0 && value <= MAX_TIMEOUT_MS)) {
    throw makeError('out_of_range', `timeout must be ${range} (got ${formatDouble(value)})`);
  }
  return value;
}

// 'json' (the default: cross-language, needs no secret) or 'v8' (Node only, needs a secret).
function codecOption(value) {
  return value === undefined ? CODEC_JSON : disk.codecId(value);
}

// The HMAC key: `secret` (a string as UTF-8, or a Buffer / Uint8Array; at least MIN_SECRET
// bytes), else $TWINCACHE_SECRET, else none (an empty key), which only codec 'json' accepts.
function secretOption(value, codec) {
  let source = 'secret';
  if (value === undefined || value === null) {
    const env = process.env.TWINCACHE_SECRET;
    if (env) {
      value = env;
      source = 'TWINCACHE_SECRET';
    }
  }
  if (value === undefined || value === null) {
    if (codec === CODEC_V8) {
      throw makeError(
        'invalid_argument',
        "codec 'v8' over Redis needs a secret (v8 is never deserialized from the network " +
          `unsigned): pass secret (${MIN_SECRET} bytes or more) or set TWINCACHE_SECRET, or ` +
          "use codec 'json'",
      );
    }
    return Buffer.alloc(0);
  }
  let raw;
  if (typeof value === 'string') raw = Buffer.from(value, 'utf8');
  else if (value instanceof Uint8Array) raw = Buffer.from(value);
  else throw typeError('secret', 'a string, a Buffer or undefined', value);
  if (raw.length < MIN_SECRET) {
    throw makeError(
      'out_of_range',
      `${source} must be at least ${MIN_SECRET} bytes (got ${raw.length})`,
    );
  }
  return raw;
}

function urlOption(value) {
  if (value === undefined || value === null) return DEFAULT_URL;
  if (typeof value !== 'string') {
    throw typeError('url', `a string such as '${DEFAULT_URL}'`, value);
  }
  let parsed = null;
  try {
    parsed = new URL(value);
  } catch {
    // reported below
  }
  if (parsed === null || !['redis:', 'rediss:', 'unix:'].includes(parsed.protocol)) {
    throw makeError(
      'out_of_range',
      `url must be a redis://, rediss:// or unix:// URL (got ${describe(value)})`,
    );
  }
  return value;
}

// Tests: which MAC implementation runs ('native' or 'pure'), and a switch to the other one.
const testing = {
  macSource: () => macImpl.source,
  useMac(source) {
    if (source === 'native' && (addon === null || typeof addon.RedisMac !== 'function')) {
      throw new Error('no addon RedisMac');
    }
    macImpl = source === 'native' ? nativeImpl : pureImpl;
  },
};

module.exports = {
  VERSION,
  FLAG_ZSTD,
  FLAG_ERROR,
  FLAG_FRESH,
  CODEC_RAW,
  CODEC_PICKLE,
  CODEC_JSON,
  CODEC_V8,
  CORRUPT,
  UNREADABLE,
  OTHER_KEY,
  DEFAULT_NAMESPACE,
  DEFAULT_URL,
  zstd,
  encodeEntryKey,
  entryName,
  functionScope,
  seal,
  openEnvelope,
  mac,
  dumps,
  loads,
  namespaceOption,
  timeoutOption,
  codecOption,
  secretOption,
  urlOption,
  _testing: testing,
};
