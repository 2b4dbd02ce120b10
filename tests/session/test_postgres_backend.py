"""The PostgreSQL backend against a real PostgreSQL server (``initdb`` + ``pg_ctl``, one per test
session, a schema per test): the contract suite, plus what only PostgreSQL can show.

The server is started by ``tests/session/conftest.py`` on a free loopback port with its socket in a
temporary folder (never the machine's own server on 5432); see ``tests/session/postgres_server.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.session.contract import BackendContract, MakeBackend
from tests.session.postgres_server import PostgresServer, tamper_pg_entry

pytestmark = pytest.mark.postgres


class TestPostgresContract(BackendContract):
    @pytest.fixture
    def make_backend(self, open_pg: Callable[..., Any]) -> MakeBackend:
        return open_pg

    @pytest.fixture(autouse=True)
    def _server(self, pg_server: PostgresServer, pg_schema: str) -> None:
        self.server, self.schema = pg_server, pg_schema

    def tamper_entry(self, make_backend: MakeBackend, session_id: str, entry_id: str) -> None:
        tamper_pg_entry(self.server, self.schema, entry_id)
