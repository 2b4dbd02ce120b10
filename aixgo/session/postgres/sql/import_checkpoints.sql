COPY {schema}.checkpoints (sk, n, id, entry_id, seq, checksum, record) FROM STDIN
