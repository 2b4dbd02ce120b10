SELECT string_agg(c.record, ',' ORDER BY c.n), count(*)
FROM {schema}.checkpoints c JOIN {schema}.sessions s ON c.sk = s.sk WHERE s.id = %(sid)s
