-- A deleted session whose rows are all gone leaves the queue.
DELETE FROM {schema}.deleted WHERE sk = %(sk)s
