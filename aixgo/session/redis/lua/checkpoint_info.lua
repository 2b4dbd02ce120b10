-- ARGV[3] checkpoint id: its canonical record.
local bad = check()
if bad then return bad end
local rec = redis.call('HGET', KEYS[5], 'r:' .. ARGV[3])
if not rec then return {'nocp'} end
return {'ok', rec}
