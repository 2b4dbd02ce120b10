-- Every session (of an agent when {filter} says so), a batch at a time in id order (keyset on the id).
SELECT id, agent, header, updated_at, head_msgs FROM {schema}.sessions
WHERE id > %(after)s {filter}
ORDER BY id LIMIT %(limit)s
