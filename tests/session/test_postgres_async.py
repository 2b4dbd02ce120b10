"""The PostgreSQL store's native async side: the ``a``-methods await psycopg's async connections on the
running event loop, with no thread hop, and behave exactly as the sync methods."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from aixgo.errors import SessionBusyError, SessionNotFoundError
from aixgo.session import Manager, aexport_lines, aimport_lines, export_lines

pytestmark = pytest.mark.postgres


def test_every_async_twin_runs_on_the_event_loop(open_pg: Callable[..., Any]) -> None:
    """A whole session's life through the a-methods: the manager never starts its I/O threads, and the
    store never opens its sync pool."""
    backend = open_pg()
    mgr = Manager(backend)
    threads_before = threading.active_count()

    async def life() -> list[str]:
        sess = await mgr.aget_or_create("assistant", "async-1", user_id="u")
        await sess.aappend_message("user", "one")
        cp = await sess.acheckpoint(metadata={"n": 1})
        await sess.aappend_message("assistant", "two")
        async with await sess.alease(ttl=5, wait=1) as lease:
            await lease.aextend(10)
            with pytest.raises(SessionBusyError):
                await (await mgr.aget("async-1")).alease(ttl=5, wait=0)
        await sess.arestore(cp.id)
        assert [e.data["content"] for e in await sess.aget_entries()] == ["one"]
        assert len(await sess.aall_entries()) == 2
        assert [c.id for c in await sess.acheckpoints()] == [cp.id]
        assert (await sess.ainfo()).message_count == 1
        assert [i.id for i in await mgr.alist(user_id="u")] == ["async-1"]
        lines = await aexport_lines(sess)
        assert await mgr.adelete("async-1")
        copy = await aimport_lines(mgr, lines)
        assert (await copy.ainfo()).message_count == 1
        return lines

    lines = asyncio.run(life())
    assert mgr._io._executor is None, "an a-method ran on the manager's I/O threads"
    assert backend.engine._pool is None, "an a-method used the sync pool"
    assert threading.active_count() <= threads_before
    assert list(export_lines(mgr.get("async-1"))) == lines  # the sync API reads what the async one wrote
    mgr.close()


def test_async_and_sync_twins_store_the_same(open_pg: Callable[..., Any]) -> None:
    mgr = Manager(open_pg())
    sync = mgr.create("assistant", "twin-sync")
    sync.append_message("user", "hi")
    sync.append_message("assistant", "hello")

    async def twin() -> None:
        sess = await mgr.acreate("assistant", "twin-async")
        await sess.aappend_message("user", "hi")
        await sess.aappend_message("assistant", "hello")

    asyncio.run(twin())
    strip = lambda entries: [(e.seq, e.type, e.data) for e in entries]  # noqa: E731
    assert strip(mgr.get("twin-async").get_entries()) == strip(sync.get_entries())
    mgr.close()


def test_a_cancelled_async_append_completes(open_pg: Callable[..., Any]) -> None:
    mgr = Manager(open_pg())
    sess = mgr.create("assistant", "cancelled")

    async def cancel_mid_write() -> None:
        task = asyncio.create_task(sess.aappend_message("user", "x" * 200_000))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(6000):  # the shielded write finishes on its own (60 s at most: a loaded machine is slow)
            if await sess.aget_entries():
                return
            await asyncio.sleep(0.01)

    asyncio.run(cancel_mid_write())
    assert [len(e.data["content"]) for e in sess.get_entries()] == [200_000]
    mgr.close()


def test_one_store_serves_several_event_loops(open_pg: Callable[..., Any]) -> None:
    """A runtime's own loop (sync calls) and the caller's loop (async calls) share one store: each
    loop gets connections of its own."""
    mgr = Manager(open_pg())
    mgr.create("assistant", "loops")
    loops: list[asyncio.AbstractEventLoop] = []

    def on_own_loop(text: str) -> None:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        loop.run_until_complete(mgr.get("loops").aappend_message("user", text))

    thread = threading.Thread(target=on_own_loop, args=("from a thread's loop",))
    thread.start()
    thread.join()
    asyncio.run(mgr.get("loops").aappend_message("user", "from asyncio.run"))
    assert [e.data["content"] for e in mgr.get("loops").get_entries()] == ["from a thread's loop", "from asyncio.run"]
    mgr.close()
    for loop in loops:
        loop.close()


def test_queued_async_turns_keep_whole_pairs(open_pg: Callable[..., Any]) -> None:
    """64 turns queued on one session's lease, each a user message and its answer: all finish, pairs
    never interleave."""
    mgr = Manager(open_pg(pool_max=8))
    mgr.create("assistant", "queue")

    async def turn(n: int) -> None:
        sess = await mgr.aget("queue")
        async with await sess.alease(ttl=30, wait=60):
            await sess.aappend_message("user", f"q{n}")
            await asyncio.sleep(0)
            await sess.aappend_message("assistant", f"a{n}")

    async def main() -> None:
        await asyncio.gather(*(turn(n) for n in range(64)))

    asyncio.run(main())
    contents = [e.data["content"] for e in mgr.get("queue").get_entries()]
    assert len(contents) == 128
    for question, answer in zip(contents[::2], contents[1::2], strict=True):
        assert question[0] == "q" and answer == "a" + question[1:]
    mgr.close()


def test_async_errors_are_the_same_as_sync(open_pg: Callable[..., Any]) -> None:
    mgr = Manager(open_pg())

    async def missing() -> None:
        with pytest.raises(SessionNotFoundError):
            await mgr.aget("nope")

    asyncio.run(missing())
    mgr.close()
