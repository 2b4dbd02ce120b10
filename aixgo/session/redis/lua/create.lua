-- ARGV[3] format version to write, [4] session id, [5] agent, [6] user id (JSON), [7] metadata (JSON),
-- [8] creation nonce (makes a retried create succeed instead of reporting "exists"), [9] created (µs).
local ex = redis.call('HMGET', KEYS[1], 'agent', 'nonce', 'ca')
if ex[1] then
  if ex[2] == ARGV[8] then return {'ok', ex[3]} end
  return {'exists', ex[1]}
end
local bad = check()  -- the rest of a session whose header is gone is never overwritten
if bad[1] ~= 'missing' then return bad end
local now = ARGV[9]
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'id', ARGV[4], 'agent', ARGV[5], 'uid', ARGV[6], 'md', ARGV[7],
  'ca', now, 'ua', now, 'len', 0, 'hh', ROOT, 'head', '', 'msgs', 0, 'w', 0, 'ncp', 0, 'nonce', ARGV[8])
touch()
return {'ok', now}
