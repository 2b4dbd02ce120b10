"""The runtime on the Redis store: nodes sharing one session never interleave turns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aixgo.session import Manager
from tests.runtime.workers import assert_whole_turns, redis_turns, run_in_processes
from tests.session.redis_server import RedisServer, require_redis_server


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    require_redis_server()
    with RedisServer() as server:
        yield server.url


def test_three_nodes_share_a_session_without_interleaving(redis_url: str) -> None:
    from aixgo.session import RedisBackend

    run_in_processes(redis_turns, [(redis_url, "shared", tag, 4, 0.02) for tag in "abc"])
    with Manager(RedisBackend(redis_url)) as mgr:
        entries = mgr.get("shared").get_entries()
    assert_whole_turns(entries, 12)
    assert sorted(e.data["content"] for e in entries[::3]) == sorted(
        f"{t}-{i}" for t in "abc" for i in range(4)
    )
