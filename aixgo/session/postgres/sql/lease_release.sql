-- Give a lease up: only this token's, so a holder whose lease expired never frees the next holder's.
DELETE FROM {schema}.leases
WHERE sk = (SELECT sk FROM {schema}.sessions WHERE id = %(sid)s) AND token = %(token)s
