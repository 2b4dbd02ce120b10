"""Settings of the PostgreSQL store, and its address as it may be printed (never with a password)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aixgo.session.backend import DEFAULT_CACHE_BYTES

DEFAULT_SCHEMA = "aixgo"
DEFAULT_URL = "postgresql://localhost/aixgo"
"""The server used unless told otherwise (libpq's defaults fill in the rest: user, port, password
from ``PGPASSWORD`` or ``~/.pgpass``, ``sslmode``)."""

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@dataclass
class PostgresOptions:
    """Settings of :class:`~aixgo.session.PostgresBackend`.

    ``schema``: the PostgreSQL schema holding aixgo's tables (created, and upgraded, by versioned
    migrations on first use unless ``auto_migrate`` is false). ``pool_size`` connections are kept open,
    up to ``pool_max`` when busy; a call that waits longer than ``pool_timeout`` seconds for a free one
    fails with a :class:`~aixgo.errors.StoreError` saying the pool is exhausted. ``connect_timeout``
    bounds each connection attempt; ``statement_timeout`` (seconds, None: the server's setting) each
    statement. ``retries``: how often an operation is retried, with jittered backoff, after the
    connection to the server was lost (every write is idempotent, so a retry never stores twice).
    """

    schema: str = DEFAULT_SCHEMA
    pool_size: int = 2
    pool_max: int = 16
    pool_timeout: float = 10.0
    connect_timeout: float = 5.0
    statement_timeout: float | None = None
    retries: int = 5
    prepared_statements: bool = True
    """Let psycopg prepare frequent statements on the server. Turn off behind PgBouncer in
    transaction mode (before PgBouncer 1.21, or without its ``max_prepared_statements``)."""
    auto_migrate: bool = True
    """Create or upgrade the schema on first use. With False, a schema that is missing or older than
    this aixgo is an error naming ``aixgo sessions migrate``."""
    ttl: timedelta | None = None
    """Delete sessions not written for this long (a sweep in batches, at most every ``sweep_interval``
    seconds, by each process that writes). None keeps sessions until deleted or pruned."""
    sweep_interval: float = 60.0
    cache_bytes: int = DEFAULT_CACHE_BYTES
    """Bytes of recent entries kept in memory to answer reads of unchanged sessions without moving their
    entries again (:mod:`aixgo.session.postgres.recent`); every read still asks the server whether the
    session changed. 0 keeps nothing."""
    application_name: str = "aixgo"

    def __post_init__(self) -> None:
        if not _SCHEMA_NAME.fullmatch(self.schema):
            raise ValueError(
                f"schema must be a plain identifier (letters, digits, '_', at most 63 characters), got {self.schema!r}"
            )
        if self.pool_size < 0 or self.pool_max < 1 or self.pool_max < self.pool_size:
            raise ValueError(
                f"need 0 <= pool_size <= pool_max and pool_max >= 1, got pool_size={self.pool_size!r}, "
                f"pool_max={self.pool_max!r}"
            )
        for name in ("pool_timeout", "connect_timeout", "sweep_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)!r}")
        if self.statement_timeout is not None and not self.statement_timeout > 0:
            raise ValueError(f"statement_timeout must be > 0 seconds or None, got {self.statement_timeout!r}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries!r}")
        if self.ttl is not None and self.ttl.total_seconds() * 1000 < 1:
            raise ValueError(f"ttl must be at least 1 ms (or None for no expiry), got {self.ttl!r}")
        if type(self.cache_bytes) is not int or self.cache_bytes < 0:
            raise ValueError(f"cache_bytes must be an integer >= 0, got {self.cache_bytes!r}")


def describe_url(url: str) -> str:
    """A printable form of a ``postgresql://`` URL: user, host, port and database, never a password
    (neither in the URL's user part nor in a ``?password=`` parameter)."""
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415 - psycopg is optional

    try:
        parts: dict[str, Any] = conninfo_to_dict(url)
    except Exception:
        return "postgresql://(unparsable URL)"
    host = str(parts.get("host") or "localhost")
    user = f"{parts['user']}@" if parts.get("user") else ""
    where = f"[{host}]" if ":" in host and not host.startswith("/") else host
    port = f":{parts['port']}" if parts.get("port") else ""
    database = f"/{parts['dbname']}" if parts.get("dbname") else ""
    if host.startswith("/"):
        return f"postgresql://{user}{database or '/'}?host={host}{'&port=' + str(parts['port']) if port else ''}"
    return f"postgresql://{user}{where}{port}{database}"


def check_url(url: str) -> str:
    """``url`` if it is a ``postgresql://`` (or ``postgres://``) URL libpq can parse, else ``ValueError``
    (whose message never shows a password)."""
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

    if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("not a PostgreSQL URL: use postgresql://[user[:password]@]host[:port]/database[?param=value]")
    try:
        conninfo_to_dict(url)
    except Exception:
        raise ValueError(f"not a valid PostgreSQL URL: {describe_url(url)}") from None
    return url


__all__ = ["DEFAULT_SCHEMA", "DEFAULT_URL", "PostgresOptions", "check_url", "describe_url"]
