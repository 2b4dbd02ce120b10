-- Sessions not written for longer than the store's ttl: the retention sweep deletes them, a batch at a
-- time, each with delete.sql's atomic re-check of its time.
SELECT id, updated_at FROM {schema}.sessions
WHERE updated_at < clock_timestamp() - %(ttl_ms)s * interval '1 millisecond'
ORDER BY updated_at LIMIT %(limit)s
