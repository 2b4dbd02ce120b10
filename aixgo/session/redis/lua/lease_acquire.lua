-- KEYS[1] meta, KEYS[2] lease; ARGV[1] token, [2] ttl ms. SET NX PX, plus: a retried acquire by the same
-- token succeeds (its first reply may have been lost).
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'ok'} end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return {'ok'}
end
return {'busy', redis.call('PTTL', KEYS[2])}
