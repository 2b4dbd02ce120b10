"""The PostgreSQL store (multi-node, durable): ``pip install -e '.[postgres]'``; see :mod:`.backend`
for the tables and :doc:`docs/postgres.md` for setup, guarantees and sizing."""

from __future__ import annotations

from aixgo.errors import MissingDependencyError

try:
    import psycopg  # noqa: F401
    import psycopg_pool  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise MissingDependencyError("the PostgreSQL session store (PostgresBackend)", "postgres") from exc

from aixgo.session.postgres.backend import PostgresBackend
from aixgo.session.postgres.options import PostgresOptions

__all__ = ["PostgresBackend", "PostgresOptions"]
