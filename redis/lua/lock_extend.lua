-- lock_extend.lua: a single-flight leader renewing its lease while it computes (docs/redis.md,
-- "Single flight across processes"). Loaded by the Python and Node packages. Compare-and-pexpire:
-- the lease is extended only while the lock still holds this leader's token.
-- KEYS[1]: the lock name. ARGV[1]: the leader's token. ARGV[2]: the new lease in milliseconds.
-- Returns 1 when the lease was extended, 0 when the lock held another token or no longer existed.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
