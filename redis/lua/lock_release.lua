-- lock_release.lua: the end of a single-flight lease (docs/redis.md, "Single flight across
-- processes"). Loaded by the Python and Node packages. Compare-and-delete: the lock is deleted only
-- while it still holds this leader's token, so a leader whose lease expired (and was taken over)
-- never deletes the lock of the leader after it.
-- KEYS[1]: the lock name. ARGV[1]: the leader's token.
-- Returns 1 when the lock was deleted, 0 when it held another token or no longer existed.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
