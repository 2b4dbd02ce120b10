"""Many turns at once through ``acall_with_session``: nothing hangs, nothing interleaves.

Reproduces the first version's hang: 12 concurrent turns on one session parked every thread of the
default pool inside ``session.lease(...)``, so the holder never got a thread to save its turn.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from aixgo.agents import ReActAgent
from aixgo.runtime import Runtime
from aixgo.session import FileBackend, Manager
from tests.runtime.workers import SlowEcho, assert_whole_turns

IO_THREADS = 4


def test_64_turns_on_one_session_and_200_on_others_all_finish(tmp_path: Path) -> None:
    manager = Manager(FileBackend(tmp_path, fsync="never"), io_threads=IO_THREADS)
    runtime = Runtime(manager)
    runtime.register_agent(ReActAgent("echo", SlowEcho(0.001)))

    async def main() -> None:
        same = [runtime.acall_with_session("echo", f"hot-{i}", "hot") for i in range(64)]
        others = [runtime.acall_with_session("echo", f"cold-{i}", f"cold-{i % 40}") for i in range(200)]
        assert IO_THREADS < 64  # more same-session turns than the store has threads
        results = await asyncio.wait_for(asyncio.gather(*same, *others), timeout=90)  # a hang fails, not a slow run
        assert len(results) == 264

    asyncio.run(main())
    with runtime:
        hot = manager.get("hot").get_entries()
        assert_whole_turns(hot, 64)
        assert sorted(e.data["content"] for e in hot if e.data.get("role") == "user") == sorted(
            f"hot-{i}" for i in range(64)
        )
        for n in range(40):
            assert_whole_turns(manager.get(f"cold-{n}").get_entries(), 5)


def test_waiting_for_a_busy_lease_holds_no_thread(tmp_path: Path) -> None:
    """50 coroutines wait for one session's lease while a 2-thread store pool keeps serving others."""
    manager = Manager(FileBackend(tmp_path, fsync="never"), io_threads=2)
    manager.create("agent", "busy")
    manager.create("agent", "free").append_message("user", "hello")

    async def main() -> None:
        busy = await manager.aget("busy")
        held = await busy.alease(wait=0)

        asked = 0
        all_asked = asyncio.Event()

        async def take_and_release() -> None:
            nonlocal asked
            asked += 1
            if asked == 50:
                all_asked.set()
            lease = await busy.alease(wait=30)
            await lease.arelease()

        waiters = [asyncio.create_task(take_and_release()) for _ in range(50)]
        await all_asked.wait()
        for _ in range(5):  # let every waiter try the lease and find it busy
            await asyncio.sleep(0)
        free = await manager.aget("free")
        for _ in range(20):
            assert (await free.aget_messages())[0]["content"] == "hello"
        # the reads were served while all 50 still waited: waiting held none of the 2 threads (had it, the
        # reads would have queued behind waiters that only the release below can free, and wait_for fails)
        assert not any(waiter.done() for waiter in waiters)
        await held.arelease()
        await asyncio.gather(*waiters)  # each gets the lease in turn

    asyncio.run(asyncio.wait_for(main(), timeout=60))
    manager.close()


def test_a_cancelled_write_completes_and_leaves_a_valid_history(tmp_path: Path) -> None:
    manager = Manager(FileBackend(tmp_path), io_threads=2)
    session = manager.create("agent", "cancel")

    async def main() -> None:
        task = asyncio.create_task(session.aappend_message("user", "x" * 200_000))
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    manager.close()  # lets the pool finish the shielded write
    with Manager(FileBackend(tmp_path)) as reader:
        entries = reader.get("cancel").get_entries()
    assert [len(e.data["content"]) for e in entries] in ([], [200_000])


def test_a_turn_cancelled_while_it_starts_leaves_the_session_free(tmp_path: Path) -> None:
    manager = Manager(FileBackend(tmp_path, fsync="never"), io_threads=2)
    runtime = Runtime(manager, lease_wait=5)
    runtime.register_agent(ReActAgent("echo", SlowEcho(0.001)))

    async def main() -> None:
        for _ in range(20):  # cancel at different points of the first hop
            task = asyncio.create_task(runtime.acall_with_session("echo", "cancelled", "s"))
            await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            result = await asyncio.wait_for(runtime.acall_with_session("echo", "next", "s"), timeout=10)
            assert result.answer == "echo: next"

    asyncio.run(main())
    manager.close()
