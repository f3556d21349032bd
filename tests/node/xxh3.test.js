'use strict';
// xxh3.js, the pure-JavaScript XXH3-64 (the core's hash64) that pure ByteCache feeds its policy:
// its results for 0 to 240 bytes equal the C library's (the literals below were printed by
// XXH3_64bits from xxhash.h, XXH_INLINE_ALL, gcc), and a ByteCache keeps the same entries and
// counts the same hits in native and pure mode. Runs twice: native and TWINCACHE_PURE=1.
const test = require('node:test');
const assert = require('node:assert/strict');
const { ByteCache } = require('twincache');
const { xxh3Hex, sketchKeyOfString, sketchKeyOfBytes } = require('../../node/lib/xxh3');
const { sketchKey } = require('../../node/lib/tinylfu');
const { hashKey } = require('../../node/lib/cache');

// Printable ASCII that differs at every offset (so a misplaced read changes the hash).
function varied(n) {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(0x20 + ((i * 37 + n) % 95));
  return s;
}

// [string, XXH3_64bits of its UTF-8 bytes], from the C library.
const EXPECTED = [
  ['a'.repeat(0), '2d06800538d394c2'],
  ['a'.repeat(1), 'e6c632b61e964e1f'],
  ['a'.repeat(2), '369242a646a19333'],
  ['a'.repeat(3), 'e4ba3228795dc9ef'],
  ['a'.repeat(4), '4b134ec1c5393727'],
  ['a'.repeat(5), 'eac56b243ef0083c'],
  ['a'.repeat(7), '2a29a3f66d424793'],
  ['a'.repeat(8), 'c9dbc05573cd5d9a'],
  ['a'.repeat(9), 'e2137e26d8eed2c4'],
  ['a'.repeat(12), '6d13ee7fa0a78768'],
  ['a'.repeat(15), '2a10b7cad91d4ce6'],
  ['a'.repeat(16), '13ba5039476cd10a'],
  ['a'.repeat(17), '39127b6816c5f92a'],
  ['a'.repeat(31), '1507f5f459f7c256'],
  ['a'.repeat(32), 'dbb6341d93939622'],
  ['a'.repeat(33), '2bf5e46a41871e0d'],
  ['a'.repeat(63), '8bf9058170423c7e'],
  ['a'.repeat(64), '2dddcef07d26ee8c'],
  ['a'.repeat(65), 'fcf352f3db82a064'],
  ['a'.repeat(95), '250b5386a5c30519'],
  ['a'.repeat(96), '8ef986534f394e7f'],
  ['a'.repeat(97), 'fb22fdde75565533'],
  ['a'.repeat(127), '8132a89e691ae72e'],
  ['a'.repeat(128), '7a22200aadc3d36c'],
  ['a'.repeat(129), '1586e7ed07cba75b'],
  ['a'.repeat(130), '2ee3561188f9b50a'],
  ['a'.repeat(143), '1c029b8ea515282e'],
  ['a'.repeat(144), '30a716923e4534db'],
  ['a'.repeat(159), '28691f1315052281'],
  ['a'.repeat(160), '74fbed24a55cc08d'],
  ['a'.repeat(200), 'ac2bd404bce6c995'],
  ['a'.repeat(239), 'ba1d0f1f51959be4'],
  ['a'.repeat(240), '993c46d96a01b5c6'],
  [varied(0), '2d06800538d394c2'],
  [varied(1), '5fbb498e55810a1a'],
  [varied(2), '52e3d7f4954bc2fa'],
  [varied(3), 'e3aafe822ff1b5a6'],
  [varied(4), '4bbc4d275a26659f'],
  [varied(5), '3257ef03fea97162'],
  [varied(6), '047c58af0e303881'],
  [varied(7), '042194682203a57c'],
  [varied(8), 'f66ac0ac407752c2'],
  [varied(9), '2783e4926dc51c3b'],
  [varied(10), '761ff7d7bb588ec2'],
  [varied(11), '07f967fb5855de47'],
  [varied(12), 'f9d3fdec8508974b'],
  [varied(13), '54e83617610960d3'],
  [varied(14), '772806b7d100661f'],
  [varied(15), 'c3679db0fc520370'],
  [varied(16), '2718db4febe41013'],
  [varied(17), '49330c8871f5ad44'],
  [varied(18), 'cc1aada1ce1fd60a'],
  [varied(19), 'e2d06fc13bb7afd8'],
  [varied(26), '82352c520fb3f156'],
  [varied(39), 'fbef737d85fdd4ea'],
  [varied(52), '8ce202e185798c81'],
  [varied(65), '4d9827606fda1d1a'],
  [varied(78), '55732a3556ae7677'],
  [varied(91), '4958a373cd8ae5f1'],
  [varied(104), 'dd2e805bde7dc3f3'],
  [varied(117), 'd7d53c5be2e3a6e3'],
  [varied(128), '7b7d82a6d779b2e7'],
  [varied(129), '41238b6b402f605b'],
  [varied(130), '028e294ef976cd83'],
  [varied(143), 'b8b43aa52b7de4ee'],
  [varied(156), '20e63d691c4d7584'],
  [varied(169), 'a8fb85a59de9bac5'],
  [varied(182), '6bbd463f3d6b955c'],
  [varied(195), '3604421dffe5348a'],
  [varied(208), '1fa1a3fadc408886'],
  [varied(221), 'db6599a7e16a2bac'],
  [varied(234), 'c3aa6ff0883b94a7'],
  [varied(240), '7ba6a85bee32550e'],
  ['0', '1982e3a7bb241055'],
  ['7', '06eed105b82285fa'],
  ['42', '1217cb28c0ef2191'],
  ['999', '82eedd60f1b12795'],
  ['1234', '87b1e526910fd7e1'],
  ['98765', '5fb4332920f4dd1c'],
  ['4294967296', '80027ba20013e491'],
  ['18446744073709551615', '9131ab7296c23377'],
  ['123456789012345', '34bfa8f73475be98'],
  ['caf\u00e9 \u20ac \u{1f600} na\u00efve', 'a193b4fd7eeabf5a'],
];

test('XXH3-64 of 0 to 240 bytes equals the C library (every length path)', () => {
  for (const [s, hex] of EXPECTED) {
    const bytes = Buffer.from(s, 'utf8');
    assert.equal(xxh3Hex(bytes), hex, `${bytes.length} bytes: ${JSON.stringify(s.slice(0, 20))}`);
  }
  assert.ok(EXPECTED.some(([s]) => Buffer.byteLength(s) === 240));
});

test('a string key sketches as the C hash of its UTF-8 bytes; over 240 bytes, as Cache does', () => {
  for (const [s] of EXPECTED) {
    assert.equal(sketchKeyOfString(s, hashKey), sketchKeyOfBytes(Buffer.from(s, 'utf8')));
  }
  const euro = '\u20ac'.repeat(81); // 243 UTF-8 bytes from 81 UTF-16 units
  assert.equal(sketchKeyOfString(euro, hashKey), sketchKey(hashKey(euro)));
  const ascii = 'k'.repeat(241);
  assert.equal(sketchKeyOfString(ascii, hashKey), sketchKey(hashKey(ascii)));
  assert.throws(() => xxh3Hex(new Uint8Array(241)), RangeError);
});

test('ByteCache keeps the same entries and hits in native and pure mode (same policy hash)', () => {
  const b = new ByteCache({ max: 100 });
  let x = 12345;
  let hits = 0;
  for (let i = 0; i < 20000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const r = (x >>> 8) / 16777216;
    const k = String(Math.floor(1000 * r * r * r)); // skewed toward small keys
    if (b.get(k) !== undefined) hits++;
    else b.set(k, '1');
  }
  // Native mode's figures (the 32-bit string hash pure mode used before gave 6992 hits).
  assert.equal(hits, 7095);
  const kept = [...b.keys()].map(Number).sort((a, c) => a - c);
  assert.equal(
    kept.join(','),
    '0,1,2,3,4,5,6,8,9,10,11,12,13,14,15,16,17,18,19,20,22,23,28,31,33,42,43,53,56,58,60,68,69,70,74,' +
      '76,77,87,92,96,98,99,125,126,129,136,140,145,146,153,158,163,166,167,168,191,195,201,205,' +
      '210,222,250,253,259,265,282,308,325,328,334,368,373,379,382,389,414,449,470,502,509,551,' +
      '553,567,580,631,693,712,736,740,747,755,783,797,801,816,824,839,851,915,921',
  );
});
