-- Statements of a snapshot (export), run in one REPEATABLE READ READ ONLY transaction: the session row,
-- then snapshot_entries.sql and snapshot_checkpoints.sql, all seeing the same committed state.
SELECT sk, header, updated_at, head_seq, head_hash, head_id, head_msgs FROM {schema}.sessions WHERE id = %(sid)s
