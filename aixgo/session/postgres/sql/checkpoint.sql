-- Record a checkpoint of the head, in one statement: stored only if the head is still the one the
-- client built it for (its seq and chain hash, which is the checksum) and the checkpoint id is new.
-- Fenced by the lease token `fence` (NULL: not fenced), checked before anything else.
-- One row: ('fenced'), ('ok'), ('dup', stored record), or ('stale', head seq, hash, id, messages); none: no session.
WITH s AS (
    SELECT sk, head_seq, head_hash, head_id, head_msgs FROM {schema}.sessions WHERE id = %(sid)s
), {fence}, dup AS (
    SELECT c.record FROM {schema}.checkpoints c JOIN s ON c.sk = s.sk WHERE c.id = %(cp_id)s AND (SELECT held FROM fence)
), moved AS (
    UPDATE {schema}.sessions SET cps = cps + 1, updated_at = %(ts)s
    WHERE id = %(sid)s AND head_seq = %(seq)s AND head_hash = %(checksum)s AND NOT EXISTS (SELECT FROM dup) AND (SELECT held FROM fence)
    RETURNING sk, cps
), stored AS (
    INSERT INTO {schema}.checkpoints (sk, n, id, entry_id, seq, checksum, record)
    SELECT sk, cps, %(cp_id)s, %(entry_id)s, %(seq)s, %(checksum)s, %(record)s FROM moved
    RETURNING n
)
SELECT 'fenced', NULL::text, NULL::integer, NULL::bytea, NULL::text, NULL::integer FROM s WHERE NOT (SELECT held FROM fence)
UNION ALL
SELECT 'ok', NULL, NULL::integer, NULL::bytea, NULL::text, NULL::integer FROM stored
UNION ALL
SELECT 'dup', record, NULL, NULL, NULL, NULL FROM dup
UNION ALL
SELECT 'stale', NULL, head_seq, head_hash, head_id, head_msgs FROM s
WHERE NOT EXISTS (SELECT FROM dup) AND NOT EXISTS (SELECT FROM stored) AND (SELECT held FROM fence)
