-- get.lua: twincache's Redis read (docs/redis.md, "Scripts"). Loaded by the Python and Node
-- packages; one round trip for one key or many.
-- KEYS: the entry names to read. ARGV: none.
-- Returns a flat array with two items per key, in KEYS order: the value (a bulk string, or false
-- when the key is missing) and its remaining time to live in milliseconds (PTTL: -1 when the key
-- has no expiry, -2 when it is missing). Read in one script so the TTL belongs to the value read.
local out = {}
for i, key in ipairs(KEYS) do
  out[2 * i - 1] = redis.call('GET', key)
  out[2 * i] = redis.call('PTTL', key)
end
return out
