-- ARGV[3] entry id, [4] canonical entry JSON, [5] expected history length, [6] expected head hash,
-- [7] the entry's chain hash, [8] chat messages in the history with it, [9] its timestamp (µs),
-- [10] the turn lease's token that fences the write ('' if not fenced).
local bad = check() or fenced(10)
if bad then return bad end
local info = redis.call('HGET', KEYS[3], ARGV[3])
if info then
  local json = redis.call('HGET', KEYS[4], ARGV[3])
  if not json then
    local _, seq = parse_info(info)
    json = redis.call('LINDEX', KEYS[2], seq - 1)
  end
  if not json then return {'corrupt', 'entry ' .. ARGV[3] .. ' has a record but no content'} end
  return {'dup', json}
end
local m = redis.call('HMGET', KEYS[1], 'len', 'hh', 'head', 'msgs', 'w')
if m[1] ~= ARGV[5] or m[2] ~= ARGV[6] then return {'stale', m[1], m[2], m[3], m[4]} end
local seq = tonumber(m[1]) + 1
local msgs = ARGV[8]
local w = tonumber(m[5]) + 1
local parent = m[3]
if seq == 1 then parent = '' end
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[3], w .. ' ' .. seq .. ' ' .. msgs .. ' ' .. ARGV[7] .. ' ' .. parent)
redis.call('HSET', KEYS[1], 'len', seq, 'hh', ARGV[7], 'head', ARGV[3], 'msgs', msgs, 'w', w, 'ua', ARGV[9])
touch()
return {'ok'}
