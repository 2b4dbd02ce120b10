-- Compare-and-extend: only the holder of ARGV[1] may push the expiry out.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
