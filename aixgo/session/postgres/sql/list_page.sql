-- One page of sessions, the most recently updated first: a keyset read on sessions_recent (or the
-- agent's / user's index), starting after the (updated_at, id) cursor, then skipping `offset` rows.
-- {filter} is empty, or narrows to an agent and/or a user.
-- With each session, what its summary (title, tokens) is made of, so a page is one round trip: the
-- first 3 current entries that may be user messages and every current entry that may be a usage
-- record (text matches: a superset, decided by the session core's rules on the decoded records;
-- records joined by commas, and their number).
WITH page AS (
    SELECT sk, id, agent, header, updated_at, head_msgs FROM {schema}.sessions
    WHERE (updated_at, id) < (%(before_ts)s::timestamptz, %(before_id)s::text) {filter}
    ORDER BY updated_at DESC, id DESC
    LIMIT %(limit)s OFFSET %(offset)s
)
SELECT p.id, p.agent, p.header, p.updated_at, p.head_msgs, u.records, u.n, t.records, t.n FROM page p
LEFT JOIN LATERAL (
    SELECT string_agg(c.record, ',' ORDER BY c.pos) AS records, count(*) AS n FROM (
        SELECT e.record, e.pos FROM {schema}.entries e
        WHERE e.sk = p.sk AND e.pos IS NOT NULL AND strpos(e.record, '"role":"user"') > 0
        ORDER BY e.pos LIMIT 3
    ) c
) u ON true
LEFT JOIN LATERAL (
    SELECT string_agg(e.record, ',' ORDER BY e.pos) AS records, count(*) AS n FROM {schema}.entries e
    WHERE e.sk = p.sk AND e.pos IS NOT NULL AND strpos(e.record, '"type":"usage"') > 0
) t ON true
ORDER BY p.updated_at DESC, p.id DESC
