-- Delete a session, only if it was not updated after `since` (NULL: whatever its time), atomically
-- with that check. Its row goes at once (the id is free again, and a new session of that id gets
-- another internal key); its lease with it; its entries and checkpoints are queued in `deleted` and
-- removed in batches by purge.sql. One row (the internal key) when deleted.
WITH gone AS (
    DELETE FROM {schema}.sessions
    WHERE id = %(sid)s AND (%(since)s::timestamptz IS NULL OR updated_at <= %(since)s::timestamptz)
    RETURNING sk
), freed AS (
    DELETE FROM {schema}.leases WHERE sk IN (SELECT sk FROM gone)
)
INSERT INTO {schema}.deleted (sk) SELECT sk FROM gone RETURNING sk
