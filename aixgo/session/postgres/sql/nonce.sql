-- Who created a session (an import or create retried after a lost reply recognises its own).
SELECT nonce FROM {schema}.sessions WHERE id = %(sid)s
