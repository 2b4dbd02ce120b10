"""Fixtures of the single-node Redis tests: one real ``redis-server`` per test module, and store
instances under a key prefix of their own per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.session.redis_server import RedisServer, backend_factory, require_redis_server


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    require_redis_server()
    with RedisServer() as srv:
        yield srv


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def open_backend(server: RedisServer, prefix: str) -> Iterator[Callable[..., Any]]:
    """RedisBackend(address, RedisOptions(key_prefix=<unique per test>, **overrides)); closed afterwards."""
    with backend_factory(server.address, prefix) as make:
        yield make


# -- PostgreSQL: one real server per test session, a schema of its own per test --------------------


@pytest.fixture
def pg_schema() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def open_pg(pg_server: Any, pg_schema: str) -> Iterator[Callable[..., Any]]:
    """PostgresBackend(url, PostgresOptions(schema=<unique per test>, **overrides)); closed afterwards."""
    from tests.session.postgres_server import pg_backend_factory

    with pg_backend_factory(pg_server.socket_url(), pg_schema) as make:
        yield make
