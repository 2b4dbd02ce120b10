-- First statement of an import's transaction (then import_entries.sql and import_checkpoints.sql):
-- the session's row, with its head and counters as the imported session ends, under the internal key
-- next_key.sql drew. An id that exists fails the statement (a unique violation), and with it the
-- whole transaction: nothing is stored.
INSERT INTO {schema}.sessions (sk, id, agent, user_id, header, nonce, created_at, updated_at,
                               head_id, head_seq, head_hash, head_msgs, written, cps)
VALUES (%(sk)s, %(sid)s, %(agent)s, %(user_id)s, %(header)s, %(nonce)s, %(created)s, %(updated)s,
        %(head_id)s, %(head_seq)s, %(head_hash)s, %(head_msgs)s, %(written)s, %(cps)s)
