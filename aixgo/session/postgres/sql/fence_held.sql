-- The fence check shared by append.sql, checkpoint.sql and restore.sql (their `{fence}`): a fenced write
-- (a turn's, through its lease) lands only while that lease is held; the lease row is share-locked, so
-- no one takes the lease over until the write's transaction ends. Needs the CTE `s` (the session's sk).
fence AS (
    SELECT %(fence)s::text IS NULL OR EXISTS (
        SELECT FROM {schema}.leases l JOIN s ON l.sk = s.sk
        WHERE l.token = %(fence)s::text AND l.expires > clock_timestamp() FOR SHARE OF l
    ) AS held
)
