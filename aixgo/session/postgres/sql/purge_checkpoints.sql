-- Remove up to `batch` checkpoints of a deleted session.
DELETE FROM {schema}.checkpoints
WHERE sk = %(sk)s AND n IN (SELECT n FROM {schema}.checkpoints WHERE sk = %(sk)s ORDER BY n LIMIT %(batch)s)
RETURNING 1
