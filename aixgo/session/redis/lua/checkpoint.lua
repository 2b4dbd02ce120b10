-- ARGV[3] checkpoint id, [4] canonical checkpoint record, [5] expected history length, [6] expected head hash,
-- [7] its timestamp (µs), [8] the turn lease's token that fences the write ('' if not fenced).
local bad = check() or fenced(8)
if bad then return bad end
local old = redis.call('HGET', KEYS[5], 'r:' .. ARGV[3])
if old then return {'dup', old} end
local m = redis.call('HMGET', KEYS[1], 'len', 'hh', 'head')
if m[1] ~= ARGV[5] or m[2] ~= ARGV[6] then return {'stale', m[1], m[2], m[3], redis.call('HGET', KEYS[1], 'msgs')} end
local n = redis.call('HINCRBY', KEYS[1], 'ncp', 1)
local head = m[3]
if m[1] == '0' then head = '' end
redis.call('HSET', KEYS[5], 'r:' .. ARGV[3], ARGV[4], 'e:' .. ARGV[3], n .. ' ' .. m[1] .. ' ' .. head)
redis.call('HSET', KEYS[1], 'ua', ARGV[7])
touch()
return {'ok'}
