-- Create an empty session. A row comes back when it was created, or when a retry of this very create
-- (same nonce) finds it already done; none when the id belongs to another session.
INSERT INTO {schema}.sessions AS s (id, agent, user_id, header, nonce, created_at, updated_at, head_hash)
VALUES (%(sid)s, %(agent)s, %(user_id)s, %(header)s, %(nonce)s, %(created)s, %(created)s, %(root)s)
ON CONFLICT (id) DO UPDATE SET nonce = s.nonce WHERE s.nonce = EXCLUDED.nonce
RETURNING sk
