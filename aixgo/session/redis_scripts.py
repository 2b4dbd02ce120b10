"""The Lua scripts of the Redis session store (see :mod:`aixgo.session.redis_backend` for the layout).

Every script that touches a session receives that session's keys, in this order::

    KEYS[1] meta   KEYS[2] hist   KEYS[3] ent   KEYS[4] gone   KEYS[5] cps   (KEYS[6] lease)

and, as its first two arguments, the highest format version this client understands and the TTL
in milliseconds (``0``: no expiry). All keys of one session share a hash tag, so every script is
valid on Redis Cluster. Replies are arrays whose first element is a status string:

``ok``        success (more elements follow, per script)
``missing``   the session does not exist (or expired)
``version``   the session was written by a newer format; the second element is its version
``stale``     a compare-and-set failed: the head moved; ``len``, ``hh`` and ``head`` follow
``dup``       the entry / checkpoint id is already stored; its stored bytes follow
``nocp``      no such checkpoint
``mismatch``  the checkpoint's checksum is not the stored chain hash of its entry
``corrupt``   stored data is inconsistent; a description follows

An entry's record in ``ent`` is ``"<w> <seq> <msgs> <hash> <parent-id>"``: write counter, position in
history, chat messages up to and including it, hex chain hash, and the parent's id (empty for seq 1;
the id comes last because ids may contain spaces).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from aixgo.session.codec import ROOT_HASH

ROOT_HEX = ROOT_HASH.hex()
"""The chain hash of the empty history, as stored (hex)."""

_PRELUDE = r"""
local ROOT = '@ROOT@'

local function now_us()
  local t = redis.call('TIME')
  return string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
end

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
"""

CREATE = r"""
-- ARGV[3] format version to write, [4] session id, [5] agent, [6] user id (JSON), [7] metadata (JSON),
-- [8] creation nonce (makes a retried create succeed instead of reporting "exists").
local ex = redis.call('HMGET', KEYS[1], 'agent', 'nonce', 'ca')
if ex[1] then
  if ex[2] == ARGV[8] then return {'ok', ex[3]} end
  return {'exists', ex[1]}
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
local now = now_us()
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'id', ARGV[4], 'agent', ARGV[5], 'uid', ARGV[6], 'md', ARGV[7],
  'ca', now, 'ua', now, 'len', 0, 'hh', ROOT, 'head', '', 'msgs', 0, 'w', 0, 'ncp', 0, 'nonce', ARGV[8])
touch()
return {'ok', now}
"""

IMPORT = r"""
-- ARGV[3] nonce (a retried import succeeds), then four sections, each a count followed by its items:
-- meta field/value pairs, hist items, gone id/json pairs, ent id/record pairs, cps field/value pairs.
local ex = redis.call('HMGET', KEYS[1], 'agent', 'nonce')
if ex[1] then
  if ex[2] == ARGV[3] then return {'ok'} end
  return {'exists', ex[1]}
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
local at = 4
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
redis.call('HSET', KEYS[1], 'ua', now_us(), 'nonce', ARGV[3])
section(KEYS[2], 'RPUSH', 1)
section(KEYS[4], 'HSET', 2)
section(KEYS[3], 'HSET', 2)
section(KEYS[5], 'HSET', 2)
touch()
return {'ok'}
"""

APPEND = r"""
-- ARGV[3] entry id, [4] canonical entry JSON, [5] expected history length, [6] expected head hash,
-- [7] the entry's chain hash, [8] 1 if a chat entry else 0.
local bad = check()
if bad then return bad end
local info = redis.call('HGET', KEYS[3], ARGV[3])
if info then
  local json = redis.call('HGET', KEYS[4], ARGV[3])
  if not json then
    local _, seq = parse_info(info)
    json = redis.call('LINDEX', KEYS[2], seq - 1)
  end
  if not json then return {'corrupt', 'entry ' .. ARGV[3] .. ' has a record but no content'} end
  return {'dup', json}
end
local m = redis.call('HMGET', KEYS[1], 'len', 'hh', 'head', 'msgs', 'w')
if m[1] ~= ARGV[5] or m[2] ~= ARGV[6] then return {'stale', m[1], m[2], m[3]} end
local seq = tonumber(m[1]) + 1
local msgs = tonumber(m[4]) + tonumber(ARGV[8])
local w = tonumber(m[5]) + 1
local parent = m[3]
if seq == 1 then parent = '' end
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[3], w .. ' ' .. seq .. ' ' .. msgs .. ' ' .. ARGV[7] .. ' ' .. parent)
local now = now_us()
redis.call('HSET', KEYS[1], 'len', seq, 'hh', ARGV[7], 'head', ARGV[3], 'msgs', msgs, 'w', w, 'ua', now)
touch()
return {'ok', now}
"""

HISTORY = r"""
-- ARGV[3] limit, [4] before, [5] after ('' for none): the cursor rules of slice_history().
local bad = check()
if bad then return bad end
local n = redis.call('LLEN', KEYS[2])
local e = n
if ARGV[4] ~= '' then e = math.max(0, math.min(n, tonumber(ARGV[4]) - 1)) end
local s = 0
if ARGV[5] ~= '' then
  s = math.max(0, math.min(tonumber(ARGV[5]), e))
  if ARGV[3] ~= '' then e = math.min(e, s + tonumber(ARGV[3])) end
elseif ARGV[3] ~= '' then
  s = math.max(0, e - tonumber(ARGV[3]))
end
if e <= s then return {'ok', '', 0} end
local items = redis.call('LRANGE', KEYS[2], s, e - 1)
-- Up to a few hundred entries, one bulk reply (joined by commas) parses much faster on the client
-- than one reply per entry; beyond that, Lua's concatenation of megabytes costs more than it saves.
if #items > 512 then return {'ok', items, #items} end
return {'ok', table.concat(items, ','), #items}
"""

ALL_ENTRIES = r"""
local bad = check()
if bad then return bad end
local hist = redis.call('LRANGE', KEYS[2], 0, -1)
-- A history is in write order (parents are written before children); the entry records, for the
-- write order of abandoned entries, are needed only when there are some.
if redis.call('HLEN', KEYS[4]) == 0 then return {'ok', hist, {}, {}} end
return {'ok', hist, redis.call('HGETALL', KEYS[4]), redis.call('HGETALL', KEYS[3])}
"""

CHECKPOINT = r"""
-- ARGV[3] checkpoint id, [4] canonical checkpoint record, [5] expected history length, [6] expected head hash.
local bad = check()
if bad then return bad end
local old = redis.call('HGET', KEYS[5], 'r:' .. ARGV[3])
if old then return {'dup', old} end
local m = redis.call('HMGET', KEYS[1], 'len', 'hh', 'head')
if m[1] ~= ARGV[5] or m[2] ~= ARGV[6] then return {'stale', m[1], m[2], m[3]} end
local n = redis.call('HINCRBY', KEYS[1], 'ncp', 1)
local head = m[3]
if m[1] == '0' then head = '' end
redis.call('HSET', KEYS[5], 'r:' .. ARGV[3], ARGV[4], 'e:' .. ARGV[3], n .. ' ' .. m[1] .. ' ' .. head)
redis.call('HSET', KEYS[1], 'ua', now_us())
touch()
return {'ok'}
"""

LIST_CHECKPOINTS = r"""
local bad = check()
if bad then return bad end
return {'ok', redis.call('HGETALL', KEYS[5])}
"""

CHECKPOINT_INFO = r"""
-- ARGV[3] checkpoint id: its canonical record.
local bad = check()
if bad then return bad end
local rec = redis.call('HGET', KEYS[5], 'r:' .. ARGV[3])
if not rec then return {'nocp'} end
return {'ok', rec}
"""

CHAIN = r"""
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
"""

RESTORE = r"""
-- ARGV[3] checkpoint id, [4] the checksum the client verified.
local bad = check()
if bad then return bad end
local e = redis.call('HGET', KEYS[5], 'e:' .. ARGV[3])
if not e then return {'nocp'} end
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
-- Which prefix of the current history stays, and which branch (from ``gone``) follows it.
local keep = seq
local branch = {}
if seq > 0 and redis.call('HEXISTS', KEYS[4], eid) == 1 then
  local cur, cs = eid, seq
  while cs > 0 do
    local j = redis.call('HGET', KEYS[4], cur)
    if not j then break end
    branch[#branch + 1] = {cur, j}
    local _, _, _, _, parent = parse_info(redis.call('HGET', KEYS[3], cur))
    cur, cs = parent, cs - 1
  end
  keep = cs
end
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
redis.call('HSET', KEYS[1], 'len', seq, 'hh', hh, 'head', eid, 'msgs', msgs, 'ua', now_us())
touch()
return {'ok'}
"""

DELETE = r"""
local agent = redis.call('HGET', KEYS[1], 'agent')
if not agent then return {'missing'} end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return {'ok', agent}
"""

LEASE_ACQUIRE = r"""
-- KEYS[1] meta, KEYS[2] lease; ARGV[1] token, [2] ttl ms. SET NX PX, plus: a retried acquire by the same
-- token succeeds (its first reply may have been lost).
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'ok'} end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return {'ok'}
end
return {'busy', redis.call('PTTL', KEYS[2])}
"""

LEASE_EXTEND = r"""
-- Compare-and-extend: only the holder of ARGV[1] may push the expiry out.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

LEASE_RELEASE = r"""
-- Compare-and-delete: never frees another holder's lease.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

INDEX_FORGET = r"""
-- KEYS[1] an agent's index; ARGV[1] session id, [2] the score seen when the session was found missing.
-- Removes the member only if nobody re-created it (a re-create writes a new score) since.
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and s == ARGV[2] then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
"""


@dataclass(frozen=True)
class LuaScript:
    """One Lua script: its source and the SHA-1 ``EVALSHA`` knows it by."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())  # noqa: S324 (Redis's id)


def _session_script(name: str, body: str) -> LuaScript:
    return LuaScript(name, _PRELUDE.replace("@ROOT@", ROOT_HEX) + body)


SCRIPTS: dict[str, LuaScript] = {
    "create": _session_script("create", CREATE),
    "import": _session_script("import", IMPORT),
    "append": _session_script("append", APPEND),
    "history": _session_script("history", HISTORY),
    "all_entries": _session_script("all_entries", ALL_ENTRIES),
    "checkpoint": _session_script("checkpoint", CHECKPOINT),
    "list_checkpoints": _session_script("list_checkpoints", LIST_CHECKPOINTS),
    "checkpoint_info": _session_script("checkpoint_info", CHECKPOINT_INFO),
    "chain": _session_script("chain", CHAIN),
    "restore": _session_script("restore", RESTORE),
    "delete": LuaScript("delete", DELETE),
    "lease_acquire": LuaScript("lease_acquire", LEASE_ACQUIRE),
    "lease_extend": LuaScript("lease_extend", LEASE_EXTEND),
    "lease_release": LuaScript("lease_release", LEASE_RELEASE),
    "index_forget": LuaScript("index_forget", INDEX_FORGET),
}
"""Every script by name."""
