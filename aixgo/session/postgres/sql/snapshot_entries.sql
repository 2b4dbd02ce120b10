SELECT string_agg(e.record, ',' ORDER BY e.w), count(*)
FROM {schema}.entries e JOIN {schema}.sessions s ON e.sk = s.sk WHERE s.id = %(sid)s
