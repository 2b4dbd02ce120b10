"""The runtime on the Redis store: nodes sharing one session never interleave turns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


class _Gate:
    """A model that tells the test it was asked, then blocks until the test opens the gate: with
    ``stall`` it blocks its event loop (as a CPU-bound step or a sync call inside a turn would), else it
    awaits."""

    def __init__(self, answer: str, *, stall: bool) -> None:
        import threading

        self.answer, self.stall = answer, stall
        self.asked, self.gate = threading.Event(), threading.Event()
        self.answered = False

    async def complete(self, messages: Any, tools: Any, settings: Any) -> Any:
        import asyncio

        from aixgo.llm import ModelResponse

        self.asked.set()
        if self.stall:
            assert self.gate.wait(timeout=60)
        else:
            while not self.gate.is_set():
                await asyncio.sleep(0.01)
        self.answered = True
        return ModelResponse(content=self.answer)


def _chat(redis_url: str, session_id: str) -> list[tuple[str, str]]:
    from aixgo.session import RedisBackend

    with Manager(RedisBackend(redis_url)) as mgr:
        return [(m["role"], m["content"]) for m in mgr.get(session_id).get_messages()]


def test_a_turn_whose_loop_stalled_past_its_lease_writes_nothing_after_the_next_turn(redis_url: str) -> None:
    """Issue 21, item 3: node A's event loop stalls past ``lease_ttl=1``; node B's turn takes the expired
    lease and runs. A's answer used to land after B's turn (user A, user B, answer B, answer A). Now
    the store refuses A's late writes and A's turn ends with LeaseLostError."""
    import threading

    from aixgo.agents import ReActAgent
    from aixgo.errors import LeaseLostError
    from aixgo.runtime import Runtime
    from aixgo.session import RedisBackend
    from tests.runtime.workers import SlowEcho

    stalling = _Gate("answer A", stall=True)
    node_a = Runtime(Manager(RedisBackend(redis_url)), lease_ttl=1)
    node_a.register_agent(ReActAgent("echo", stalling))
    node_b = Runtime(Manager(RedisBackend(redis_url)), lease_ttl=30)
    node_b.register_agent(ReActAgent("echo", SlowEcho(0)))
    outcome: list[BaseException | object] = []

    def turn_a() -> None:
        try:
            outcome.append(node_a.call_with_session("echo", "user A", "stalled"))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=turn_a)
    thread.start()
    assert stalling.asked.wait(timeout=30)
    assert node_b.call_with_session("echo", "user B", "stalled").answer == "echo: user B"  # after A's ttl
    stalling.gate.set()
    thread.join(timeout=60)
    assert isinstance(outcome[0], LeaseLostError), outcome
    assert _chat(redis_url, "stalled") == [("user", "user A"), ("user", "user B"), ("assistant", "echo: user B")]
    node_a.close()
    node_b.close()


def test_a_turn_ends_as_soon_as_its_lease_is_lost(redis_url: str) -> None:
    """The runtime does not wait for the turn's next write: when renewing the lease finds it lost, the turn
    is stopped (its model call cancelled) with LeaseLostError, and the lease's next holder is undisturbed."""
    import asyncio

    from aixgo.agents import ReActAgent
    from aixgo.errors import LeaseLostError
    from aixgo.runtime import Runtime
    from aixgo.session import RedisBackend

    waiting = _Gate("never sent", stall=False)
    node = Runtime(Manager(RedisBackend(redis_url)), lease_ttl=0.6)
    node.register_agent(ReActAgent("echo", waiting))
    other = Manager(RedisBackend(redis_url))

    async def main() -> None:
        turn = asyncio.create_task(node.acall_with_session("echo", "question", "lost-lease"))
        await asyncio.to_thread(waiting.asked.wait, 30)
        backend = other.backend
        backend.client.delete(backend.keys_of("lost-lease")[5])  # type: ignore[attr-defined]  # as if it expired
        thief = await other.get("lost-lease").alease(ttl=30, wait=0)
        with pytest.raises(LeaseLostError, match="lost-lease"):
            await asyncio.wait_for(turn, timeout=30)
        assert not waiting.answered  # stopped, not left to run on
        await thief.session.aappend_message("user", "the new holder's turn")
        await thief.arelease()

    asyncio.run(main())
    assert _chat(redis_url, "lost-lease") == [("user", "question"), ("user", "the new holder's turn")]
    node.close()
    other.close()


def test_a_turn_ends_when_its_lease_cannot_be_renewed_before_it_expires() -> None:
    """Renewal failing (the store unreachable) is not shrugged off: once the lease may have expired, the
    turn stops with LeaseLostError instead of running on."""
    import asyncio

    from aixgo.agents import ReActAgent
    from aixgo.errors import LeaseLostError
    from aixgo.runtime import Runtime
    from aixgo.session import RedisBackend, RedisOptions

    require_redis_server()
    waiting = _Gate("never sent", stall=False)
    with RedisServer() as server:
        options = RedisOptions(socket_timeout=0.3, connect_timeout=0.3, retries=0)
        node = Runtime(Manager(RedisBackend(server.url, options)), lease_ttl=0.9)
        node.register_agent(ReActAgent("echo", waiting))

        async def main() -> None:
            turn = asyncio.create_task(node.acall_with_session("echo", "question", "unreachable"))
            await asyncio.to_thread(waiting.asked.wait, 30)
            server.stop()
            with pytest.raises(LeaseLostError, match="renew"):
                await asyncio.wait_for(turn, timeout=30)
            assert not waiting.answered

        asyncio.run(main())
        node.close()
