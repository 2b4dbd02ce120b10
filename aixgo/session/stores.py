"""Opening a store from options: the one place that builds stores, with the one set of defaults.

Config files (:func:`aixgo.config.build_session_manager`) and the command line
(``aixgo sessions --store … --base-dir … --redis-url … --pg-url …``) both describe the store they want as
:class:`StoreOptions` and open it with :func:`open_backend` / :func:`open_manager`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aixgo.session.backend import DEFAULT_CACHE_BYTES, Backend
from aixgo.session.file import FileBackend, FsyncPolicy
from aixgo.session.file.locks import DEFAULT_LOCK_TIMEOUT
from aixgo.session.manager import Manager
from aixgo.session.memory import MemoryBackend

DurableStoreKind = Literal["file", "redis", "postgres"]
"""The stores a config file or the command line can name: they outlive the process."""
StoreKind = Literal[DurableStoreKind, "memory"]
"""Every store :func:`open_backend` opens (``memory`` lives as long as the process)."""

DEFAULT_BASE_DIR = "~/.aixgo/sessions"
"""Where the file store keeps sessions unless told otherwise."""
DEFAULT_REDIS = "localhost:6379"
"""The Redis server used unless told otherwise."""
DEFAULT_POSTGRES = "postgresql://localhost/aixgo"
"""The PostgreSQL database used unless told otherwise (libpq's defaults fill in user, port, password)."""
DEFAULT_FSYNC: FsyncPolicy = "always"


def default_base_dir() -> Path:
    """:data:`DEFAULT_BASE_DIR`, expanded and absolute."""
    return Path(os.path.expanduser(DEFAULT_BASE_DIR)).absolute()


@dataclass(frozen=True)
class StoreOptions:
    """Which store to open, and how.

    ``redis`` holds :class:`~aixgo.session.RedisOptions` keyword arguments (password, db,
    key_prefix, ttl, …) and ``postgres`` :class:`~aixgo.session.PostgresOptions` ones (schema,
    pool_size, statement_timeout, …); settings left out keep those classes' defaults."""

    kind: StoreKind = "file"
    base_dir: str | os.PathLike[str] = DEFAULT_BASE_DIR
    fsync: FsyncPolicy = DEFAULT_FSYNC
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    cache_bytes: int = DEFAULT_CACHE_BYTES
    redis_target: str = DEFAULT_REDIS
    redis: dict[str, Any] = field(default_factory=dict, repr=False)
    postgres_url: str = field(default=DEFAULT_POSTGRES, repr=False)
    postgres: dict[str, Any] = field(default_factory=dict)


def open_backend(options: StoreOptions) -> Backend:
    """The store ``options`` describe. The Redis store needs ``pip install -e '.[redis]'``, the
    PostgreSQL store ``pip install -e '.[postgres]'``."""
    if options.kind == "file":
        return FileBackend(
            options.base_dir, fsync=options.fsync, lock_timeout=options.lock_timeout, cache_bytes=options.cache_bytes
        )
    if options.kind == "memory":
        return MemoryBackend()
    if options.kind == "postgres":
        from aixgo.session.postgres import PostgresBackend, PostgresOptions  # noqa: PLC0415 - psycopg loads only when used

        postgres: Backend = PostgresBackend(options.postgres_url, PostgresOptions(**options.postgres))
        return postgres
    from aixgo.session.redis import RedisBackend, RedisOptions  # noqa: PLC0415 - `redis` loads only when used

    backend: Backend = RedisBackend(options.redis_target, RedisOptions(**options.redis))
    return backend


def open_manager(options: StoreOptions) -> Manager:
    """A :class:`~aixgo.session.Manager` on :func:`open_backend`."""
    return Manager(open_backend(options))


__all__ = [
    "DEFAULT_BASE_DIR",
    "DEFAULT_POSTGRES",
    "DEFAULT_REDIS",
    "DurableStoreKind",
    "StoreKind",
    "StoreOptions",
    "default_base_dir",
    "open_backend",
    "open_manager",
]
