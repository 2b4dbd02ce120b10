-- Deleted sessions whose rows are still to be removed (left by a process that stopped half way).
SELECT sk FROM {schema}.deleted ORDER BY sk LIMIT %(limit)s
