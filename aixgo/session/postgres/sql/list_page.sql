-- One page of sessions, the most recently updated first: a keyset read on sessions_recent (or the
-- agent's / user's index), starting after the (updated_at, id) cursor, then skipping `offset` rows.
-- {filter} is empty, or narrows to an agent and/or a user.
SELECT id, agent, header, updated_at, head_msgs FROM {schema}.sessions
WHERE (updated_at, id) < (%(before_ts)s::timestamptz, %(before_id)s::text) {filter}
ORDER BY updated_at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s
