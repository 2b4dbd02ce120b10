-- Move the head to a checkpoint and lay out the history again (after restore_lock.sql, in one
-- transaction): only if the checkpoint's stored record is the one the client verified (or wrote) and
-- its entry's stored chain hash is still the checksum. The entries after the fork point leave the
-- history (pos NULL, still stored); those of the checkpoint's branch join it (pos = seq).
-- Fenced by the lease token `fence` (NULL: not fenced), checked before anything else.
-- One row: ('fenced'), ('ok', messages), ('nocp'), ('changed': another record), ('mismatch', the entry's stored
-- hash, NULL when the entry is missing); none: no session.
WITH RECURSIVE s AS (
    SELECT sk FROM {schema}.sessions WHERE id = %(sid)s
), {fence}, c AS (
    SELECT c.sk, c.entry_id, c.seq, c.checksum, c.record FROM {schema}.checkpoints c JOIN s ON c.sk = s.sk
    WHERE c.id = %(cp_id)s
), target AS (
    SELECT e.w, e.id, e.parent_id, e.seq, e.pos, e.msgs, e.hash FROM {schema}.entries e JOIN c ON e.sk = c.sk AND e.id = c.entry_id
), ok AS (
    SELECT c.sk, c.entry_id, c.seq, c.checksum, COALESCE((SELECT msgs FROM target), 0) AS msgs FROM c
    WHERE c.record = %(record)s AND (SELECT held FROM fence)
      AND (CASE WHEN c.entry_id IS NULL THEN c.checksum = %(root)s ELSE c.checksum = (SELECT hash FROM target) END)
), branch AS (
    SELECT t.w, t.parent_id, t.seq, t.pos FROM target t WHERE EXISTS (SELECT FROM ok)
    UNION ALL
    SELECT e.w, e.parent_id, e.seq, e.pos FROM branch b JOIN {schema}.entries e ON e.sk = (SELECT sk FROM ok) AND e.id = b.parent_id
    WHERE b.pos IS NULL
), fork AS (
    SELECT COALESCE(MAX(seq) FILTER (WHERE pos IS NOT NULL), 0) AS seq FROM branch
), cleared AS (  -- entries after the fork leave the history (a range read on entries_history)
    UPDATE {schema}.entries e SET pos = NULL
    WHERE e.sk = (SELECT sk FROM ok) AND e.pos > (SELECT seq FROM fork)
), laid AS (  -- the checkpoint's branch joins it (other rows than `cleared` changes: theirs have pos NULL)
    UPDATE {schema}.entries e SET pos = e.seq
    WHERE e.sk = (SELECT sk FROM ok) AND e.w IN (SELECT w FROM branch WHERE pos IS NULL)
), moved AS (
    UPDATE {schema}.sessions x SET head_id = ok.entry_id, head_seq = ok.seq, head_hash = ok.checksum,
        head_msgs = ok.msgs, updated_at = %(ts)s
    FROM ok WHERE x.sk = ok.sk
    RETURNING x.head_msgs
)
SELECT CASE WHEN NOT (SELECT held FROM fence) THEN 'fenced'
            WHEN NOT EXISTS (SELECT FROM c) THEN 'nocp'
            WHEN (SELECT record FROM c) <> %(record)s THEN 'changed'
            WHEN EXISTS (SELECT FROM moved) THEN 'ok'
            ELSE 'mismatch' END,
       (SELECT head_msgs FROM moved), (SELECT hash FROM target)
FROM s
