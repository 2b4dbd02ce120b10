-- ARGV[3] checkpoint id, [4] the checksum the client verified, [5] the restore's timestamp (µs),
-- [6] the checkpoint record as the client wrote it ('' if it read the record first): 'changed' if
-- the stored record is not that one (the client then reads it and verifies it the long way),
-- [7] the turn lease's token that fences the write ('' if not fenced).
local bad = check() or fenced(7)
if bad then return bad end
local e = redis.call('HGET', KEYS[5], 'e:' .. ARGV[3])
if not e then return {'nocp'} end
if ARGV[6] ~= '' and redis.call('HGET', KEYS[5], 'r:' .. ARGV[3]) ~= ARGV[6] then return {'changed'} end
local _, seq, eid = string.match(e, '^(%d+) (%d+) (.*)$')
seq = tonumber(seq)
local hh, msgs = ROOT, 0
if seq > 0 then
  local info = redis.call('HGET', KEYS[3], eid)
  if not info then return {'corrupt', 'checkpoint ' .. ARGV[3] .. ' names unknown entry ' .. eid} end
  local _, s, mc, h = parse_info(info)
  if s ~= seq then return {'corrupt', 'checkpoint ' .. ARGV[3] .. ' disagrees with its entry on seq'} end
  hh, msgs = h, mc
end
if hh ~= ARGV[4] then return {'mismatch', hh} end
local keep, branch = branch_swap(eid, seq)
local n = redis.call('LLEN', KEYS[2])
if n > keep then
  local tail = redis.call('LRANGE', KEYS[2], keep, -1)
  for _, json in ipairs(tail) do redis.call('HSET', KEYS[4], entry_id(json), json) end
  if keep == 0 then redis.call('DEL', KEYS[2]) else redis.call('LTRIM', KEYS[2], 0, keep - 1) end
end
for i = #branch, 1, -1 do
  redis.call('RPUSH', KEYS[2], branch[i][2])
  redis.call('HDEL', KEYS[4], branch[i][1])
end
if seq == 0 then eid = '' end
redis.call('HSET', KEYS[1], 'len', seq, 'hh', hh, 'head', eid, 'msgs', msgs, 'ua', ARGV[5])
touch()
return {'ok', msgs}
