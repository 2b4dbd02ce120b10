local ROOT = '@ROOT@'

-- Refresh (or, without a TTL, remove) the expiry of the session's data keys.
local function touch()
  local ttl = tonumber(ARGV[2])
  for i = 1, 5 do
    if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) else redis.call('PERSIST', KEYS[i]) end
  end
end

-- nil if the session exists and is readable, else the reply to return.
local function check()
  local v = redis.call('HGET', KEYS[1], 'v')
  if not v then return {'missing'} end
  local n = tonumber(v)
  if not n then return {'corrupt', 'bad format version ' .. v} end
  if n > tonumber(ARGV[1]) then return {'version', v} end
  return nil
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
