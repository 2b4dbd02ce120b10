-- The checkpoints of a session being replaced by an import (in that import's transaction).
DELETE FROM {schema}.checkpoints WHERE sk = %(sk)s
