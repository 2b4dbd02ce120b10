-- ARGV[3] entry id, [4] its seq, [5..] anchors: ids of entries whose chain hash the client computed
-- itself. Returns that anchor's id, stored hash and seq, and the bytes of every entry after the
-- nearest anchor on the entry's chain (from the root if none is on it) up to the entry, so the
-- client re-hashes only what it has not hashed before.
local bad = check()
if bad then return bad end
local anchors = {}
for i = 5, #ARGV do anchors[ARGV[i]] = true end
local cur, cs = ARGV[3], tonumber(ARGV[4])
local branch = {}
local anchor, anchor_seq = '', 0
while cs > 0 do
  if anchors[cur] then anchor, anchor_seq = cur, cs break end
  local j = redis.call('HGET', KEYS[4], cur)
  if not j then break end
  branch[#branch + 1] = j
  local info = redis.call('HGET', KEYS[3], cur)
  if not info then return {'corrupt', 'entry ' .. cur .. ' has content but no record'} end
  local _, _, _, _, parent = parse_info(info)
  cur, cs = parent, cs - 1
end
local chain = {}
if anchor == '' and cs > 0 then
  -- ``cur`` is in the current history at ``cs``; so is every anchor not in ``gone``, at its seq
  for id in pairs(anchors) do
    if redis.call('HEXISTS', KEYS[4], id) == 0 then
      local info = redis.call('HGET', KEYS[3], id)
      if info then
        local _, s = parse_info(info)
        if s <= cs and s > anchor_seq then anchor, anchor_seq = id, s end
      end
    end
  end
  if anchor_seq < cs then chain = redis.call('LRANGE', KEYS[2], anchor_seq, cs - 1) end
end
for i = #branch, 1, -1 do chain[#chain + 1] = branch[i] end
local anchor_hash = ROOT
if anchor ~= '' then
  local _, _, _, h = parse_info(redis.call('HGET', KEYS[3], anchor))
  anchor_hash = h
end
return {'ok', anchor, anchor_hash, anchor_seq, chain}
