-- Remove up to `batch` entries of a deleted session (short statements, short locks).
DELETE FROM {schema}.entries
WHERE sk = %(sk)s AND w IN (SELECT w FROM {schema}.entries WHERE sk = %(sk)s ORDER BY w LIMIT %(batch)s)
RETURNING 1
