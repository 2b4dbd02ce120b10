-- ARGV[3] nonce (a retried import succeeds), [4] '' or the agent whose stored session of this id the
-- import replaces (in this one script: readers see the old session or the new one, never neither),
-- then four sections, each a count followed by its items:
-- meta field/value pairs, hist items, gone id/json pairs, ent id/record pairs, cps field/value pairs.
local ex = redis.call('HMGET', KEYS[1], 'agent', 'nonce')
if ex[1] then
  if ex[2] == ARGV[3] then return {'ok'} end
  if ARGV[4] == '' or ex[1] ~= ARGV[4] then return {'exists', ex[1]} end
else
  local bad = check()  -- the rest of a session whose header is gone is never overwritten
  if bad[1] ~= 'missing' then return bad end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
local at = 5
local function section(key, command, width)
  local n = tonumber(ARGV[at])
  at = at + 1
  local done = 0
  while done < n do
    local chunk = math.min(n - done, 500)
    local args = {}
    for x = at + done * width, at + (done + chunk) * width - 1 do args[#args + 1] = ARGV[x] end
    redis.call(command, key, unpack(args))
    done = done + chunk
  end
  at = at + n * width
end
section(KEYS[1], 'HSET', 2)
redis.call('HSET', KEYS[1], 'nonce', ARGV[3])
section(KEYS[2], 'RPUSH', 1)
section(KEYS[4], 'HSET', 2)
section(KEYS[3], 'HSET', 2)
section(KEYS[5], 'HSET', 2)
touch()
return {'ok'}
