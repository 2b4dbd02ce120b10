local bad = check()
if bad then return bad end
return {'ok', redis.call('HGETALL', KEYS[5])}
