"""The Redis store (multi-node): ``pip install -e '.[redis]'``; see :mod:`.backend` for the key layout."""

from __future__ import annotations

from aixgo.session.redis.backend import RedisBackend
from aixgo.session.redis.connection import RedisOptions

__all__ = ["RedisBackend", "RedisOptions"]
