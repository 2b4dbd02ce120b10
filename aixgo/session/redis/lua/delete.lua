-- ARGV[1] '' or a time (µs): delete only if the session was not updated after it (prune's re-check).
local m = redis.call('HMGET', KEYS[1], 'agent', 'ua')
if not m[1] then
  -- No header (evicted, or deleted outside aixgo): what is left of the session goes too, unless this is
  -- prune's conditional delete, which cannot tell when such a session was updated.
  if ARGV[1] ~= '' or redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]) == 0 then return {'missing'} end
  return {'ok', ''}
end
if ARGV[1] ~= '' and tonumber(m[2]) > tonumber(ARGV[1]) then return {'kept', m[1]} end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return {'ok', m[1]}
