-- A session's header, "updated" and head.
SELECT header, updated_at, head_seq, head_hash, head_id, head_msgs
FROM {schema}.sessions WHERE id = %(sid)s
