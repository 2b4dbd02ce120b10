-- ARGV[3] window ('' for the whole history), [4] start, [5] stop: an LRANGE start..stop (negative indexes
-- count from the window's end) inside the first ``window`` entries; the client computes them from the
-- read's limit and cursors (aixgo.session.core.slicing), this script applies them with range_bounds.
-- ARGV[6] history length, [7] head hash: the head at which the client holds the entries this read
-- selects ('' when it does not); if the session is still there, the reply is just 'same'.
local bad = check()  -- this also checked that LLEN equals the session's 'len'
if bad then return bad end
local n = redis.call('LLEN', KEYS[2])
local hh = redis.call('HGET', KEYS[1], 'hh')
if ARGV[6] ~= '' and tostring(n) == ARGV[6] and hh == ARGV[7] then return {'same'} end
local window = nil
if ARGV[3] ~= '' then window = tonumber(ARGV[3]) end
local s, stop = range_bounds(n, window, tonumber(ARGV[4]), tonumber(ARGV[5]))
if stop <= s then return {'ok', '', 0, n, hh, s} end
local items = redis.call('LRANGE', KEYS[2], s, stop - 1)
-- Up to a few hundred entries, one bulk reply (joined by commas) parses much faster on the client
-- than one reply per entry; beyond that, Lua's concatenation of megabytes costs more than it saves.
if #items > 512 then return {'ok', items, #items, n, hh, s} end
return {'ok', table.concat(items, ','), #items, n, hh, s}
