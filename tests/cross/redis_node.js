'use strict';
// The Node half of tests/cross/redis_cross.py (the Redis tier across languages, codec json):
//   node redis_node.js <url> read <values.json>   reads every entry Python wrote (each must equal
//                                                 its value) and the tampered ones (each a miss)
//   node redis_node.js <url> write <values.json>  writes the same values under "js:<name>" keys
// The secret comes from $TWINCACHE_SECRET, the namespace is "cross". Exit status 0 on success.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { RedisCache } = require(path.join(__dirname, '..', '..', 'node', 'lib'));
const env = require(path.join(__dirname, '..', '..', 'node', 'lib', 'redis_envelope'));

// Two entries with freshness fields (docs/redis.md, "Freshness": flag 0x04), a 600 s stale window
// each: js:fresh with 1200 s left (fresh), js:stale with 300 s left (in its stale window).
async function writeFresh(url) {
  const client = require('redis').createClient({ url });
  await client.connect();
  try {
    for (const [which, px] of [
      ['fresh', 1200000],
      ['stale', 300000],
    ]) {
      const key = env.encodeEntryKey(`js:${which}`);
      const name = env.entryName('cross', key);
      const data = Buffer.from(JSON.stringify({ which }));
      const secret = Buffer.from(process.env.TWINCACHE_SECRET, 'utf8');
      const envelope = env.seal(secret, name, key, env.CODEC_JSON, data, 0, true, [600000, 1500]);
      await client.set(name, envelope, { PX: px });
    }
  } finally {
    client.destroy();
  }
}

async function main() {
  const [url, action, file] = process.argv.slice(2);
  const values = JSON.parse(fs.readFileSync(file, 'utf8'));
  const c = new RedisCache({ url, namespace: 'cross', codec: 'json', timeout: 5000 });
  try {
    if (action === 'write') {
      await c.setMany(
        Object.entries(values).map(([k, v]) => [`js:${k}`, v]),
        { ttl: 600000 },
      );
      await c.set(['js', 'list', 'key', 1], 'a list key', { ttl: 600000 });
      await c.set('js:bytes', Buffer.from([0, 1, 2, 255]), { ttl: 600000 });
      await c.set('js:tampered', { secret: 'never read' }, { ttl: 600000 });
      await writeFresh(url);
    } else {
      for (const [k, v] of Object.entries(values)) {
        assert.deepEqual(await c.get(`py:${k}`), v, `py:${k}`);
      }
      const many = await c.getMany(Object.keys(values).map((k) => `py:${k}`));
      assert.equal(many.size, Object.keys(values).length);
      assert.equal(await c.get(['py', 'list', 'key', 1]), 'a list key');
      assert.deepEqual(await c.get('py:bytes'), Buffer.from([0, 1, 2, 255]));
      assert.equal(await c.get('py:tampered'), undefined);
      assert.deepEqual(await c.get('py:fresh'), { which: 'fresh' });
      assert.equal(await c.get('py:stale'), undefined); // in its stale window: a miss
      const s = c.stats();
      assert.equal(s.l2_misses, 1, JSON.stringify(s));
      assert.equal(s.l2_corrupt, 1, JSON.stringify(s));
      assert.equal(s.l2_errors, 0, JSON.stringify(s));
    }
  } finally {
    await c.close();
  }
  console.log(`redis_node.js ${action}: ok`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
