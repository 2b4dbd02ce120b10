-- A fresh internal session key (for an import, whose rows all need it in one transaction).
SELECT nextval(pg_get_serial_sequence('{schema}.sessions', 'sk'))
