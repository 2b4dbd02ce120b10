-- KEYS[1] an agent's index; ARGV[1] session id, [2] the score seen when the session was found missing.
-- Removes the member only if nobody re-created it (a re-create writes a new score) since.
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and s == ARGV[2] then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
