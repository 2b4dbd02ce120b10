-- ROOT (the chain hash of the empty history), ENTRY_START and ENTRY_ID_KEY (the bytes of an encoded
-- entry) are generated here by scripts.py from aixgo.session.core.codec, the one owner of those bytes.
-- @LAYOUT@

-- Refresh (or, without a TTL, remove) the expiry of the session's data keys.
local function touch()
  local ttl = tonumber(ARGV[2])
  for i = 1, 5 do
    if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) else redis.call('PERSIST', KEYS[i]) end
  end
end

-- nil if the session exists and is readable, else the reply to return.
-- A session whose keys were partly lost (evicted, or deleted outside aixgo) is damaged, never served
-- half: every key the script was given is checked against the counts in meta, each in O(1) (the history
-- holds 'len' entries, the entry records 'w', the abandoned entries 'w' - 'len', the checkpoints 2 x 'ncp').
local LOST = ': keys were evicted or deleted outside aixgo'
local function check()
  local m = redis.call('HMGET', KEYS[1], 'v', 'len', 'w', 'ncp')
  local v = m[1]
  if not v then
    for i = 2, math.min(#KEYS, 5) do
      if redis.call('EXISTS', KEYS[i]) == 1 then
        return {'corrupt', 'the session header is missing but the rest of the session is there' .. LOST}
      end
    end
    return {'missing'}
  end
  local n = tonumber(v)
  if not n then return {'corrupt', 'bad format version ' .. v} end
  if n > tonumber(ARGV[1]) then return {'version', v} end
  local len, w, ncp = tonumber(m[2] or '0'), tonumber(m[3] or '0'), tonumber(m[4] or '0')
  local counts = {
    {2, 'LLEN', len, 'the history holds %d entries where the session has %d'},
    {3, 'HLEN', w, 'the entry records number %d where the session wrote %d entries'},
    {4, 'HLEN', w - len, 'the abandoned entries number %d where the session has %d'},
    {5, 'HLEN', 2 * ncp, 'the checkpoint records number %d where the session has %d (two each)'},
  }
  for _, c in ipairs(counts) do
    if KEYS[c[1]] then
      local have = redis.call(c[2], KEYS[c[1]])
      if have ~= c[3] then return {'corrupt', string.format(c[4], have, c[3]) .. LOST} end
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

-- The id of an encoded entry ({"k":"e","type":"<type>","id":"<id>",...): codec.entry_id_of's rule.
local function entry_id(json)
  local s = string.find(json, ENTRY_ID_KEY, #ENTRY_START, true)
  if not s then error('aixgo: damaged entry record (no id)') end
  local start = s + #ENTRY_ID_KEY
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

-- The half-open index range [first, stop) of the history that a read selects: ``window`` (nil: the
-- whole history) and ``start``..``stop`` (LRANGE semantics) of a HistoryRange, over ``length`` entries.
-- The rule is aixgo.session.core.slicing.range_bounds; tests/session/test_lua_rules.py runs both on
-- the same inputs.
local function range_bounds(length, window, start, stop)
  local size = length
  if window then size = math.min(length, window) end
  if start < 0 then start = math.max(0, size + start) end
  if stop < 0 then stop = size + stop end
  return start, math.min(stop, size - 1) + 1
end

-- Moving the head to entry ``eid`` at ``seq``: the first ``keep`` entries of the current history stay,
-- and the abandoned entries of ``branch`` ({id, json}, the entry itself first) follow them, nearest the
-- root last. The rule is aixgo.session.core.state.branch_swap; tests/session/test_lua_rules.py runs
-- both on the same sessions.
local function branch_swap(eid, seq)
  local cur, keep = eid, seq
  local branch = {}
  while keep > 0 do
    local json = redis.call('HGET', KEYS[4], cur)
    if not json then break end
    branch[#branch + 1] = {cur, json}
    local _, _, _, _, parent = parse_info(redis.call('HGET', KEYS[3], cur))
    cur, keep = parent, keep - 1
  end
  return keep, branch
end
