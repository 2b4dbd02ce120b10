-- A session's checkpoints, oldest first (records joined by commas). One row; none: no session.
SELECT (SELECT string_agg(c.record, ',' ORDER BY c.n) FROM {schema}.checkpoints c WHERE c.sk = s.sk),
       (SELECT count(*) FROM {schema}.checkpoints c WHERE c.sk = s.sk)
FROM {schema}.sessions s WHERE s.id = %(sid)s
