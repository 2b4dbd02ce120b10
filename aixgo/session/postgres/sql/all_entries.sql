-- Every stored entry of a session, abandoned branches included, in write order (records joined by
-- commas). One row; none: no session.
SELECT (SELECT string_agg(e.record, ',' ORDER BY e.w) FROM {schema}.entries e WHERE e.sk = s.sk),
       (SELECT count(*) FROM {schema}.entries e WHERE e.sk = s.sk)
FROM {schema}.sessions s WHERE s.id = %(sid)s
