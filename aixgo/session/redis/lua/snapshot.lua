-- Everything of one session in one atomic step (an export under concurrent writers stays consistent):
-- the meta fields, the history, the abandoned entries, every entry's record and the checkpoints.
local bad = check()
if bad then return bad end
return {'ok', redis.call('HMGET', KEYS[1], 'v', 'id', 'agent', 'uid', 'md', 'ca', 'ua', 'msgs', 'len', 'hh', 'head'),
  redis.call('LRANGE', KEYS[2], 0, -1), redis.call('HGETALL', KEYS[4]), redis.call('HGETALL', KEYS[3]),
  redis.call('HGETALL', KEYS[5])}
