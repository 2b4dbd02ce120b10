"""Three ``aixgo serve`` processes on one real Redis, one PostgreSQL (or one machine's file store) serve
the same sessions: concurrent requests for one session are serialised by the turn lease (never interleaved),
nothing is lost."""

from __future__ import annotations

import concurrent.futures
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from aixgo.errors import SessionBusyError
from aixgo.server.errors import from_exception
from aixgo.session import EntryType, FileBackend, Manager, RedisBackend
from tests.server.serving import Served, echo, write_config
from tests.session.redis_server import RedisServer, require_redis_server
from tests.support.openai_server import OpenAIServer

SESSIONS, TURNS, THREADS = 30, 300, 32


def test_busy_is_409() -> None:
    answer = from_exception(SessionBusyError("session 's' is busy", session_id="s"))
    assert answer.status_code == 409 and json.loads(answer.body)["error"]["type"] == "session_busy"


@pytest.mark.redis
def test_three_servers_on_one_redis(tmp_path: Path) -> None:
    require_redis_server()
    with RedisServer() as redis, OpenAIServer(responder=echo) as upstream:
        store = f"session: {{store: redis, redis: {{url: '{redis.url}'}}}}"
        _three_servers(write_config(tmp_path, upstream, session=store), lambda: Manager(RedisBackend(redis.url)))


@pytest.mark.postgres
def test_three_servers_on_one_postgres(tmp_path: Path, pg_server: Any) -> None:
    from aixgo.session import PostgresBackend

    url = pg_server.url(pg_server.create_database())
    with OpenAIServer(responder=echo) as upstream:
        store = f"session: {{store: postgres, postgres: {{url: '{url}'}}}}"
        _three_servers(write_config(tmp_path, upstream, session=store), lambda: Manager(PostgresBackend(url)))


def test_three_servers_on_one_file_store(tmp_path: Path) -> None:
    """On one machine, processes share a file store: its writes and turn leases are locked across processes."""
    with OpenAIServer(responder=echo) as upstream:
        _three_servers(write_config(tmp_path, upstream), lambda: Manager(FileBackend(tmp_path / "store")))


def _three_servers(config: Path, open_store: Callable[[], Manager]) -> None:
    servers = [Served(config) for _ in range(3)]
    try:
        urls = itertools.cycle([s.url for s in servers])
        jobs = [(next(urls), f"s{n % SESSIONS}", f"m{n}") for n in range(TURNS)]
        failures: list[str] = []

        def send(job: tuple[str, str, str]) -> tuple[str, str, int]:
            url, session_id, text = job
            with httpx.Client(timeout=60) as http:
                answer = http.post(f"{url}/v1/chat/completions", headers={"X-Session-Id": session_id},
                                   json={"model": "bot", "messages": [{"role": "user", "content": text}]})
            if answer.status_code != 200:
                failures.append(answer.text)
            return session_id, text, answer.status_code

        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(send, jobs))
    finally:
        for server in servers:
            server.stop()
    assert [status for *_, status in results] == [200] * TURNS, failures[:5]
    with open_store() as manager:
        sent = sorted(text for _, text, _ in results)
        stored = []
        for number in range(SESSIONS):
            chat = [e.data for e in manager.get(f"s{number}").get_entries() if e.type is EntryType.MESSAGE]
            assert len(chat) == 2 * (TURNS // SESSIONS)
            for user, assistant in zip(chat[::2], chat[1::2], strict=True):  # whole pairs, in order
                assert user["role"] == "user" and assistant["content"].startswith(f"answer to {user['content']} ")
            stored.extend(m["content"] for m in chat[::2])
        assert sorted(stored) == sent  # nothing lost, nothing twice
