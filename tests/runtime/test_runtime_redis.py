"""The runtime on the Redis store: nodes sharing one session never interleave turns."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator

import pytest

from aixgo.session import Manager
from tests.runtime.workers import redis_turns
from tests.session.redis_server import RedisServer, require_redis_server


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    require_redis_server()
    with RedisServer() as server:
        yield server.url


def test_three_nodes_share_a_session_without_interleaving(redis_url: str) -> None:
    from aixgo.session import RedisBackend

    ctx = multiprocessing.get_context("spawn")
    nodes = [ctx.Process(target=redis_turns, args=(redis_url, "shared", tag, 4, 0.02)) for tag in "abc"]
    for node in nodes:
        node.start()
    for node in nodes:
        node.join(90)
        assert node.exitcode == 0
    with Manager(RedisBackend(redis_url)) as mgr:
        entries = mgr.get("shared").get_entries()
    kinds = [(e.type.value, e.data.get("role")) for e in entries]
    assert kinds == [("message", "user"), ("message", "assistant"), ("usage", None)] * 12
    for i in range(0, len(entries), 3):
        assert entries[i + 1].data["content"] == "echo: " + entries[i].data["content"]
    assert sorted(e.data["content"] for e in entries[::3]) == sorted(
        f"{t}-{i}" for t in "abc" for i in range(4)
    )
