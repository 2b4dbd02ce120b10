-- Push a held lease's expiry out; no row when the lease is no longer this token's (expired, taken over
-- or released).
UPDATE {schema}.leases SET expires = clock_timestamp() + %(ttl_ms)s * interval '1 millisecond'
WHERE sk = (SELECT sk FROM {schema}.sessions WHERE id = %(sid)s) AND token = %(token)s AND expires > clock_timestamp()
RETURNING sk
