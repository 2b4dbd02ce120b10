-- A session's summary fields (get_info, list), after the same check every read makes: a session missing
-- one of its keys is reported as damaged, never summarised as whole.
local bad = check()
if bad then return bad end
return {'ok', redis.call('HMGET', KEYS[1], 'v', 'id', 'agent', 'uid', 'md', 'ca', 'ua', 'msgs', 'len', 'hh', 'head')}
