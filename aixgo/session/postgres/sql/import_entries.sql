-- The imported entries (then the checkpoints, import_checkpoints.sql), in the import's transaction.
COPY {schema}.entries (sk, w, id, parent_id, seq, pos, msgs, hash, record) FROM STDIN
