-- First statement of an import that replaces a stored session of the same agent (then clear_entries.sql,
-- clear_checkpoints.sql, import_entries.sql, import_checkpoints.sql, in one transaction): the row takes
-- the imported header, head and counters under its own key. No row (the session was deleted, or is
-- another agent's, since the key was read): the transaction is abandoned and nothing changes.
UPDATE {schema}.sessions
SET user_id = %(user_id)s, header = %(header)s, nonce = %(nonce)s, created_at = %(created)s, updated_at = %(updated)s,
    head_id = %(head_id)s, head_seq = %(head_seq)s, head_hash = %(head_hash)s, head_msgs = %(head_msgs)s,
    written = %(written)s, cps = %(cps)s
WHERE sk = %(sk)s AND agent = %(agent)s
RETURNING sk
