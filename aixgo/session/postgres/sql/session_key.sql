-- A session's internal key and agent (an import with replace keeps the key, so a held lease stays held).
SELECT sk, agent FROM {schema}.sessions WHERE id = %(sid)s
