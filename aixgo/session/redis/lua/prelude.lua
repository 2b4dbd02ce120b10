local ROOT = '@ROOT@'

-- Refresh (or, without a TTL, remove) the expiry of the session's data keys.
local function touch()
  local ttl = tonumber(ARGV[2])
  for i = 1, 5 do
    if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) else redis.call('PERSIST', KEYS[i]) end
  end
end

-- nil if the session exists and is readable, else the reply to return.
-- A session whose keys were partly lost (evicted, or deleted outside aixgo) is damaged, never served half.
local function check()
  local v = redis.call('HGET', KEYS[1], 'v')
  if not v then
    if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then
      return {'corrupt', 'the session header is missing but its history is there: keys were evicted or deleted outside aixgo'}
    end
    return {'missing'}
  end
  local n = tonumber(v)
  if not n then return {'corrupt', 'bad format version ' .. v} end
  if n > tonumber(ARGV[1]) then return {'version', v} end
  if KEYS[2] then
    local len = tonumber(redis.call('HGET', KEYS[1], 'len') or '0')
    local have = redis.call('LLEN', KEYS[2])
    if have ~= len then
      return {'corrupt', 'the history holds ' .. have .. ' entries where the session has ' .. len ..
        ': keys were evicted or deleted outside aixgo'}
    end
  end
  return nil
end

-- nil if a write may go ahead, else the reply to return: ARGV[at] is '' (the write is not fenced) or the
-- token of the turn lease held right now (KEYS[6]), checked in the same script as the write.
local function fenced(at)
  local token = ARGV[at]
  if token == nil or token == '' then return nil end
  if redis.call('GET', KEYS[6]) == token then return nil end
  return {'fenced'}
end

-- w, seq, msgs, hash, parent of an entry record in ``ent``.
local function parse_info(info)
  local w, seq, msgs, hash, parent = string.match(info, '^(%d+) (%d+) (%d+) (%x+) (.*)$')
  if not w then error('aixgo: damaged entry record: ' .. info) end
  return tonumber(w), tonumber(seq), tonumber(msgs), hash, parent
end

-- The id of a canonical entry record: {"k":"e","type":"<type>","id":"<id>",...
local function entry_id(json)
  local s = string.find(json, ',"id":"', 1, true)
  if not s then error('aixgo: damaged entry record (no id)') end
  local start = s + 7
  local i = start
  local q
  while true do
    q = string.find(json, '["\\]', i)
    if not q then error('aixgo: damaged entry record (unterminated id)') end
    if string.sub(json, q, q) == '"' then break end
    i = q + 2
  end
  local raw = string.sub(json, start, q - 1)
  if not string.find(raw, '\\', 1, true) then return raw end
  return cjson.decode('"' .. raw .. '"')
end
