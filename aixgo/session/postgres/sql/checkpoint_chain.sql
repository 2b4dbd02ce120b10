-- A checkpoint's stored record and the stored bytes of every entry from the root to its entry (joined
-- by newlines, root first), for the client to recompute the chain hash. The entries still on the
-- history are one range read; only an abandoned branch is walked, parent by parent, back to where it
-- left the history. One row; none: no session. (NULL record: no such checkpoint.)
WITH RECURSIVE s AS (
    SELECT sk FROM {schema}.sessions WHERE id = %(sid)s
), c AS (
    SELECT c.record, c.entry_id FROM {schema}.checkpoints c JOIN s ON c.sk = s.sk WHERE c.id = %(cp_id)s
), branch AS (
    SELECT e.id, e.parent_id, e.seq, e.pos, e.record
    FROM {schema}.entries e JOIN s ON e.sk = s.sk JOIN c ON e.id = c.entry_id
    UNION ALL
    SELECT e.id, e.parent_id, e.seq, e.pos, e.record
    FROM branch b JOIN {schema}.entries e ON e.sk = (SELECT sk FROM s) AND e.id = b.parent_id
    WHERE b.pos IS NULL
), fork AS (
    SELECT COALESCE(MAX(seq) FILTER (WHERE pos IS NOT NULL), 0) AS seq FROM branch
), chain AS (
    SELECT e.seq, e.record FROM {schema}.entries e, s, fork WHERE e.sk = s.sk AND e.pos BETWEEN 1 AND fork.seq
    UNION ALL
    SELECT seq, record FROM branch WHERE pos IS NULL
)
SELECT (SELECT record FROM c), (SELECT string_agg(record, E'\n' ORDER BY seq) FROM chain), (SELECT count(*) FROM chain)
FROM s
