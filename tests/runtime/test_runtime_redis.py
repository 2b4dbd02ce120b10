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


def test_a_long_turn_keeps_its_lease_beyond_the_ttl(redis_url: str) -> None:
    """The lease ttl bounds how long a *crashed* holder blocks others, not how long a turn may take."""
    import asyncio

    from aixgo.agents import ReActAgent
    from aixgo.errors import SessionBusyError
    from aixgo.runtime import Runtime
    from aixgo.session import RedisBackend
    from tests.runtime.workers import SlowEcho

    node_a = Runtime(Manager(RedisBackend(redis_url)), lease_ttl=0.3)
    node_a.register_agent(ReActAgent("echo", SlowEcho(1.2)))
    node_b = Manager(RedisBackend(redis_url))
    node_b.create("echo", "long-turn")

    async def main() -> None:
        turn = asyncio.create_task(node_a.acall_with_session("echo", "slow", "long-turn"))
        await asyncio.sleep(0.8)  # well past the 0.3 s ttl
        with pytest.raises(SessionBusyError):
            await asyncio.to_thread(node_b.get("long-turn").lease, 5, 0)
        assert (await turn).answer == "echo: slow"

    asyncio.run(main())
    with node_b.get("long-turn").lease(wait=0):  # released at the end of the turn
        pass
    node_a.close()
    node_b.close()
