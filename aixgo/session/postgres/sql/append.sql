-- Append one entry after the head, in one statement: stored only if the head is still the one the
-- client built the entry for (compare-and-set on seq and chain hash) and the entry id is new.
-- Fenced by the lease token `fence` (NULL: not fenced), checked before anything else.
-- One row: ('fenced'), ('ok'), ('dup', stored record), or ('stale', head seq, hash, id, messages); none: no session.
WITH s AS (
    SELECT sk, head_seq, head_hash, head_id, head_msgs FROM {schema}.sessions WHERE id = %(sid)s
), {fence}, dup AS (
    SELECT e.record FROM {schema}.entries e JOIN s ON e.sk = s.sk WHERE e.id = %(entry_id)s AND (SELECT held FROM fence)
), moved AS (
    UPDATE {schema}.sessions
    SET head_id = %(entry_id)s, head_seq = %(seq)s, head_hash = %(hash)s, head_msgs = %(msgs)s,
        updated_at = %(ts)s, written = written + 1
    WHERE id = %(sid)s AND head_seq = %(prev_seq)s AND head_hash = %(prev_hash)s AND NOT EXISTS (SELECT FROM dup) AND (SELECT held FROM fence)
    RETURNING sk, written
), stored AS (
    INSERT INTO {schema}.entries (sk, w, id, parent_id, seq, pos, msgs, hash, record)
    SELECT sk, written, %(entry_id)s, %(parent_id)s, %(seq)s, %(seq)s, %(msgs)s, %(hash)s, %(record)s FROM moved
    RETURNING w
)
SELECT 'fenced', NULL::text, NULL::integer, NULL::bytea, NULL::text, NULL::integer FROM s WHERE NOT (SELECT held FROM fence)
UNION ALL
SELECT 'ok', NULL, NULL::integer, NULL::bytea, NULL::text, NULL::integer FROM stored
UNION ALL
SELECT 'dup', record, NULL, NULL, NULL, NULL FROM dup
UNION ALL
SELECT 'stale', NULL, head_seq, head_hash, head_id, head_msgs FROM s
WHERE NOT EXISTS (SELECT FROM dup) AND NOT EXISTS (SELECT FROM stored) AND (SELECT held FROM fence)
