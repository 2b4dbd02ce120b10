-- Take a session's turn lease if no one holds it (or it expired), or if this token already does (a
-- retried attempt). Expiry is the server's clock. One row: (session exists, lease taken).
WITH s AS (
    SELECT sk FROM {schema}.sessions WHERE id = %(sid)s
), taken AS (
    INSERT INTO {schema}.leases AS l (sk, token, expires)
    SELECT sk, %(token)s, clock_timestamp() + %(ttl_ms)s * interval '1 millisecond' FROM s
    ON CONFLICT (sk) DO UPDATE SET token = EXCLUDED.token, expires = EXCLUDED.expires
    WHERE l.expires <= clock_timestamp() OR l.token = EXCLUDED.token
    RETURNING token
)
SELECT EXISTS (SELECT FROM s), EXISTS (SELECT FROM taken)
