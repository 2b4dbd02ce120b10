-- The entries of the current history that a HistoryRange selects (aixgo.session.core.slicing): index
-- `start..stop` (inclusive, Redis LRANGE semantics: negative counts from the end, ends clamped) of the
-- first `window` entries (NULL: all), applied mechanically as Redis applies LRANGE. Entry i has pos
-- i + 1, so this is one range read on entries_history, whatever the session's length.
-- With `held` (the head hash of entries the client holds): no records when the head is still that one.
-- One row: the records joined by commas (NULL: none), their number, and the head; none: no session.
WITH s AS (
    SELECT sk, head_seq, head_hash, head_id, head_msgs,
           LEAST(head_seq, COALESCE(%(window)s::integer, head_seq)) AS size
    FROM {schema}.sessions WHERE id = %(sid)s
), r AS (
    SELECT sk, CASE WHEN %(start)s::integer >= 0 THEN %(start)s::integer ELSE GREATEST(0, size + %(start)s::integer) END AS lo,
           LEAST(CASE WHEN %(stop)s::integer >= 0 THEN %(stop)s::integer ELSE size + %(stop)s::integer END, size - 1) AS hi
    FROM s
), e AS (
    SELECT string_agg(e.record, ',' ORDER BY e.pos) AS records, count(*) AS n
    FROM r JOIN s ON s.sk = r.sk AND s.head_hash IS DISTINCT FROM %(held)s::bytea
    JOIN {schema}.entries e ON e.sk = r.sk AND e.pos BETWEEN r.lo + 1 AND r.hi + 1
)
SELECT e.records, e.n, s.head_seq, s.head_hash, s.head_id, s.head_msgs FROM s, e
