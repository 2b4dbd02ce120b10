"""Turning a loaded config into live objects. This is the first place anything touches disk or network."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aixgo.config.model import Config, SessionConfig
from aixgo.errors import ConfigError
from aixgo.session.manager import Manager
from aixgo.session.stores import DEFAULT_POSTGRES, DEFAULT_REDIS, StoreOptions, open_manager


def build_session_manager(config: Config | SessionConfig) -> Manager:
    """A ready :class:`~aixgo.session.Manager` on the configured store.

    ``file``: ``Manager(FileBackend(base_dir, fsync=...))`` (creates ``base_dir``, mode 0700).
    ``redis``: ``Manager(RedisBackend(url_or_addr, RedisOptions(...)))``; needs ``aixgo[redis]``.
    ``postgres``: ``Manager(PostgresBackend(url, PostgresOptions(...)))``; needs ``aixgo[postgres]``.
    Settings left unset in the file keep the backend's defaults. Raises
    :class:`~aixgo.errors.ConfigError` if ``session.enabled`` is false (there is nothing to build).
    """
    session = config.session if isinstance(config, Config) else config
    where = f" in {config.path}" if isinstance(config, Config) else ""
    if not session.enabled:
        raise ConfigError(
            f"sessions are disabled{where} (session.enabled: false): there is no session manager to build"
        )
    return open_manager(store_options(session))


def store_options(session: SessionConfig) -> StoreOptions:
    """The :class:`~aixgo.session.StoreOptions` a ``session:`` section describes."""
    if session.store == "file":
        options = StoreOptions(kind="file", base_dir=session.base_dir, fsync=session.fsync)
        if session.lock_timeout is not None:
            options = replace(options, lock_timeout=session.lock_timeout.total_seconds())
        if session.cache_mb is not None:
            options = replace(options, cache_bytes=session.cache_mb * 1024 * 1024)
        return options
    if session.store == "postgres":
        url = session.postgres.url if session.postgres is not None else DEFAULT_POSTGRES
        return StoreOptions(kind="postgres", postgres_url=url, postgres=postgres_options(session))
    target = session.redis.target if session.redis is not None else DEFAULT_REDIS
    return StoreOptions(kind="redis", redis_target=target, redis=redis_options(session))


def redis_options(session: SessionConfig) -> dict[str, Any]:
    """Keyword arguments for ``RedisOptions``: every setting the config gives (``ttl`` always)."""
    redis = session.redis
    options: dict[str, Any] = {"ttl": session.ttl}
    if session.cache_mb is not None:
        options["cache_bytes"] = session.cache_mb * 1024 * 1024
    if redis is None:
        return options
    settings: dict[str, Any] = {
        "password": redis.password,
        "db": redis.db,
        "key_prefix": redis.key_prefix,
        "pool_size": redis.pool_size,
        "socket_timeout": redis.socket_timeout,
        "connect_timeout": redis.connect_timeout,
        "retries": redis.retries,
        "allow_eviction": redis.allow_eviction,
        "cluster": redis.cluster,
        "min_replica_acks": redis.min_replica_acks,
        "replica_ack_timeout": redis.replica_ack_timeout,
    }
    options.update({key: value for key, value in settings.items() if value is not None})
    return options


def postgres_options(session: SessionConfig) -> dict[str, Any]:
    """Keyword arguments for ``PostgresOptions``: every setting the config gives (``ttl`` always)."""
    options: dict[str, Any] = {"ttl": session.ttl}
    postgres = session.postgres
    if postgres is None:
        return options
    settings: dict[str, Any] = {
        "schema": postgres.schema,
        "pool_size": postgres.pool_size,
        "pool_max": postgres.pool_max,
        "pool_timeout": postgres.pool_timeout,
        "connect_timeout": postgres.connect_timeout,
        "statement_timeout": postgres.statement_timeout,
        "retries": postgres.retries,
        "prepared_statements": postgres.prepared_statements,
        "auto_migrate": postgres.auto_migrate,
    }
    options.update({key: value for key, value in settings.items() if value is not None})
    return options


__all__ = ["build_session_manager", "postgres_options", "redis_options", "store_options"]
