-- First statement of a restore's transaction: lock the session's row, so no append moves the head
-- while the history is laid out again (the next statement then sees every committed entry).
SELECT sk FROM {schema}.sessions WHERE id = %(sid)s FOR UPDATE
