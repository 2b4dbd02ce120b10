local bad = check()
if bad then return bad end
local hist = redis.call('LRANGE', KEYS[2], 0, -1)
-- A history is in write order (parents are written before children); the entry records, for the
-- write order of abandoned entries, are needed only when there are some.
if redis.call('HLEN', KEYS[4]) == 0 then return {'ok', hist, {}, {}} end
return {'ok', hist, redis.call('HGETALL', KEYS[4]), redis.call('HGETALL', KEYS[3])}
