-- The entries of a session being replaced by an import (in that import's transaction).
DELETE FROM {schema}.entries WHERE sk = %(sk)s
