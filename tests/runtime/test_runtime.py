"""The runtime: one engine for sync and async turns, turn leases, context, auto-checkpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import aixgo
from aixgo.agents import ReActAgent, tool
from aixgo.errors import AgentNotFoundError, AixgoError, SessionBusyError
from aixgo.llm import ModelResponse, ModelSettings
from aixgo.runtime import Runtime, SimpleRuntime
from aixgo.session import FileBackend, Manager, session_from_context
from aixgo.testing import FunctionModel, ScriptedModel
from tests.runtime.workers import SlowEcho, assert_whole_turns, run_in_processes, slow_turns


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    with Manager(FileBackend(tmp_path / "sessions")) as mgr:
        yield mgr


def test_from_config_runs_turns_that_remember(tmp_path: Path) -> None:
    config = tmp_path / "offline.yaml"
    config.write_text(
        f"""
session:
  store: file
  base_dir: {tmp_path / "store"}
llm:
  provider: scripted
agents:
  - name: helper
    role: react
    model: scripted
    tools: [calculator]
"""
    )
    with aixgo.Runtime.from_config(config) as rt:
        first = rt.call_with_session("helper", "My name is Grace.", "s1")
        assert first.session_id == "s1" and first.agent == "helper"
    with aixgo.Runtime.from_config(config) as rt:  # a new runtime: only the store remembers
        second = rt.call_with_session("helper", "What is my name?", "s1")
        assert "Grace" in second.answer
        roles = [m["role"] for m in rt.session_manager.get("s1").get_messages()]
        assert roles == ["user", "assistant", "user", "assistant"]


def test_seed_shape_simple_runtime(manager: Manager) -> None:
    seen: list[list[dict[str, Any]]] = []

    def reply(messages: Sequence[Any], tools: Sequence[Any], settings: ModelSettings) -> str:
        seen.append([dict(m) for m in messages])
        return f"answer {len(seen)}"

    rt = SimpleRuntime()
    rt.set_session_manager(manager)
    rt.register_agent(ReActAgent("assistant", FunctionModel(reply), prompt="Be brief."))
    result = rt.call_with_session("assistant", "Hello!", "user-123")
    assert (result.answer, result.steps, result.session_id) == ("answer 1", 1, "user-123")
    rt.call_with_session("assistant", "Again", "user-123")
    assert [m["content"] for m in seen[1]] == ["Be brief.", "Hello!", "answer 1", "Again"]
    fresh = rt.call_with_session("assistant", "New", None)
    assert fresh.session_id != "user-123"


def test_unknown_agent_is_a_clear_error(manager: Manager) -> None:
    rt = Runtime(manager)
    rt.register_agent(ReActAgent("a", ScriptedModel(["x"])))
    with pytest.raises(AgentNotFoundError, match=r"no agent named 'b' \(registered: a\)"):
        rt.call_with_session("b", "hi", "s")


def test_sync_call_inside_event_loop_is_refused(manager: Manager) -> None:
    rt = Runtime(manager)
    rt.register_agent(ReActAgent("a", ScriptedModel(["x"])))

    async def main() -> None:
        with pytest.raises(AixgoError, match="acall_with_session"):
            rt.call_with_session("a", "hi", "s")
        assert (await rt.acall_with_session("a", "hi", "s")).answer == "x"

    asyncio.run(main())


def test_session_is_in_context_inside_tools(manager: Manager) -> None:
    @tool
    def whoami() -> str:
        """The current session id."""
        session = session_from_context()
        return session.id if session else "none"

    from aixgo.testing import tool_call

    rt = Runtime(manager)
    rt.register_agent(ReActAgent("a", ScriptedModel([tool_call("whoami", {}), "done"]), tools=[whoami]))
    rt.call_with_session("a", "who?", "ctx-session")
    results = [m for m in manager.get("ctx-session").get_messages() if m["role"] == "tool"]
    assert results[0]["content"] == "ctx-session"
    assert session_from_context() is None


def test_concurrent_turns_on_one_session_never_interleave(manager: Manager) -> None:
    active = 0
    peak = 0

    async def reply(messages: Sequence[Any], tools: Sequence[Any], settings: ModelSettings) -> ModelResponse:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1
        return ModelResponse(content="ok " + messages[-1]["content"])

    class AsyncFunctionModel:
        async def complete(self, messages: Any, tools: Any, settings: ModelSettings) -> ModelResponse:
            return await reply(messages, tools, settings)

    rt = Runtime(manager)
    rt.register_agent(ReActAgent("a", AsyncFunctionModel()))

    async def main() -> None:
        await asyncio.gather(*(rt.acall_with_session("a", f"m{i}", "shared") for i in range(5)))

    asyncio.run(main())
    assert peak == 1
    messages = manager.get("shared").get_messages()
    for user, assistant in zip(messages[::2], messages[1::2], strict=True):
        assert user["role"] == "user" and assistant["content"] == "ok " + user["content"]


def test_different_sessions_run_concurrently(manager: Manager) -> None:
    """All ten turns are in their model call at once: each answers only when it sees the other nine there
    (turns run one after the other would never get there, and wait_for fails)."""
    in_flight = 0
    all_in = asyncio.Event()

    class Together:
        async def complete(self, messages: Any, tools: Any, settings: ModelSettings) -> ModelResponse:
            nonlocal in_flight
            in_flight += 1
            if in_flight == 10:
                all_in.set()
            await all_in.wait()
            return ModelResponse(content="together")

    rt = Runtime(manager)
    rt.register_agent(ReActAgent("a", Together()))

    async def main() -> None:
        turns = asyncio.gather(*(rt.acall_with_session("a", "hi", f"s{i}") for i in range(10)))
        results = await asyncio.wait_for(turns, timeout=60)
        assert [r.answer for r in results] == ["together"] * 10

    asyncio.run(main())


def test_turns_from_two_processes_never_interleave(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path)) as mgr:
        mgr.create("echo", "shared")
    run_in_processes(slow_turns, [(str(tmp_path), "shared", tag, 4, 0.03) for tag in "ab"])
    with Manager(FileBackend(tmp_path)) as mgr:
        assert_whole_turns(mgr.get("shared").get_entries(), 8)


def test_busy_session_fails_fast_when_told_not_to_wait(manager: Manager) -> None:
    rt = Runtime(manager, lease_wait=0)
    rt.register_agent(ReActAgent("a", ScriptedModel(["x"])))
    session = manager.create("a", "held")
    with session.lease(), pytest.raises(SessionBusyError):
        rt.call_with_session("a", "hi", "held")
    assert manager.get("held").get_entries() == []


def test_cancelled_turn_releases_the_lease_and_keeps_history_valid(manager: Manager) -> None:
    asking = asyncio.Event()

    class Slow:
        async def complete(self, messages: Any, tools: Any, settings: ModelSettings) -> ModelResponse:
            asking.set()
            await asyncio.sleep(3600)
            raise AssertionError("never answers")

    rt = Runtime(manager)
    rt.register_agent(ReActAgent("a", Slow()))

    async def main() -> None:
        task = asyncio.create_task(rt.acall_with_session("a", "slow", "cancel-me"))
        await asyncio.wait_for(asking.wait(), timeout=60)  # the turn is in its model call
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    session = manager.get("cancel-me")
    with session.lease(wait=0):
        pass
    assert [m["role"] for m in session.get_messages()] == ["user"]


def test_auto_checkpoints(manager: Manager) -> None:
    every_turn = Runtime(manager, auto_checkpoint=True)
    every_turn.register_agent(ReActAgent("a", ScriptedModel(["1", "2", "3"])))
    for text in "abc":
        every_turn.call_with_session("a", text, "auto")
    checkpoints = manager.get("auto").checkpoints()
    assert [cp.seq for cp in checkpoints] == [3, 6, 9]
    assert all(cp.metadata == {"auto": True} for cp in checkpoints)

    hourly = Runtime(manager, auto_checkpoint=True, checkpoint_interval=timedelta(hours=1))
    hourly.register_agent(ReActAgent("a", ScriptedModel(["1", "2", "3"])))
    for text in "abc":
        hourly.call_with_session("a", text, "hourly")
    assert len(manager.get("hourly").checkpoints()) == 1


def test_checkpoint_settings_come_from_config(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"""
session:
  base_dir: {tmp_path / "store"}
  checkpoint: {{auto_save: true, interval: 5m}}
llm: {{provider: scripted}}
agents: [{{name: a, role: react, model: scripted}}]
"""
    )
    with Runtime.from_config(config) as rt:
        assert rt.auto_checkpoint and rt.checkpoint_interval == timedelta(minutes=5)
        rt.call_with_session("a", "hello", "c1")
        rt.call_with_session("a", "again", "c1")
        assert len(rt.session_manager.get("c1").checkpoints()) == 1


CTRL_C_SCRIPT = """
import faulthandler, signal, sys, threading, time
faulthandler.dump_traceback_later(15)  # if the process is still here then, the test's failure shows where
# as in a terminal: a test runner started in the background (``cmd &`` in a script) passes SIGINT
# on ignored, and Python then installs no KeyboardInterrupt handler
signal.signal(signal.SIGINT, signal.default_int_handler)
from pathlib import Path
from aixgo.agents import ReActAgent
from aixgo.runtime import Runtime
from aixgo.session import FileBackend, Manager
from tests.runtime.workers import SlowEcho

rt = Runtime(Manager(FileBackend(Path(sys.argv[1]))))
rt.register_agent(ReActAgent("echo", SlowEcho(30)))
watcher = Manager(FileBackend(Path(sys.argv[1])))

def when_the_turn_runs():
    while True:
        if any(info.id == "ctrl-c" for info in watcher.list()) and watcher.get("ctrl-c").get_messages():
            break
        time.sleep(0.01)
    if sys.argv[2] == "thread":  # the kernel may hand a process's SIGINT to any of its threads
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
    else:
        print("started", flush=True)

threading.Thread(target=when_the_turn_runs, daemon=True).start()
try:
    rt.call_with_session("echo", "long question", "ctrl-c")
except KeyboardInterrupt:
    session = rt.session_manager.get("ctrl-c")
    with session.lease(wait=0):
        print("lease free;", [m["role"] for m in session.get_messages()], flush=True)
    rt.call_with_session  # the runtime is still usable afterwards
    rt.close()
    sys.exit(0)
sys.exit(3)
"""


@pytest.mark.parametrize("received_by", ["process", "thread"])
def test_ctrl_c_in_a_sync_call_cancels_the_turn(tmp_path: Path, received_by: str) -> None:
    """Ctrl-C during a turn cancels it and frees its lease, whichever thread the kernel hands the
    signal to (a turn's wait in the main thread must not sleep through it)."""
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT, str(tmp_path), received_by],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        if received_by == "process":
            assert proc.stdout.readline() == "started\n"
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert out == "lease free; ['user']\n"


def test_a_turn_cancelled_while_the_store_starts_it_has_freed_its_lease_when_the_cancel_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    rt = Runtime(Manager(FileBackend(tmp_path)))
    rt.register_agent(ReActAgent("echo", SlowEcho(30)))
    in_store = threading.Event()
    real_find = rt.session_for

    def slow_find(*args: Any, **kwargs: Any) -> Any:
        in_store.set()
        time.sleep(0.3)  # the store is slow to start the turn (on the pool; the lease is taken after this)
        return real_find(*args, **kwargs)

    monkeypatch.setattr(rt, "session_for", slow_find)

    async def main() -> None:
        turn = asyncio.create_task(rt.acall_with_session("echo", "hello", "s1"))
        while not in_store.is_set():
            await asyncio.sleep(0.01)
        turn.cancel()
        with pytest.raises(asyncio.CancelledError):
            await turn
        session = await rt.session_manager.aget("s1")
        async with await session.alease(wait=0):  # free as soon as the cancellation returned
            assert [m["role"] for m in await session.aget_messages()] == ["user"]

    with rt:
        asyncio.run(main())


def test_ctrl_c_just_after_a_sync_call_handed_its_turn_to_the_loop_cancels_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C that lands between handing the turn to the runtime's loop and waiting for it."""
    import threading

    from aixgo import runtime as runtime_module

    ran = threading.Event()
    real = asyncio.run_coroutine_threadsafe

    def submit_then_interrupt(coro: Any, loop: Any) -> Any:
        real(coro, loop)
        raise KeyboardInterrupt

    async def turn() -> None:
        await asyncio.sleep(0.2)
        ran.set()

    loop_thread = runtime_module._LoopThread()
    try:
        monkeypatch.setattr(runtime_module.asyncio, "run_coroutine_threadsafe", submit_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            loop_thread.run(turn())
        monkeypatch.undo()
        assert not ran.wait(0.5)  # cancelled, not left running
        assert loop_thread.run(asyncio.sleep(0, result="usable")) == "usable"
    finally:
        loop_thread.close()


def test_a_turn_takes_two_trips_to_the_store_and_its_last_write_frees_the_lease(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Begin (session, lease, history, the user's message) is one trip; the answer, the usage and the lease's
    release are the second: the end of a turn used to cost a third trip of its own."""
    from aixgo.session.io import StoreIO

    trips: list[str] = []
    submit = StoreIO._submit

    def counted(self: StoreIO, fn: Any, *args: Any) -> Any:
        trips.append(getattr(fn, "__name__", type(fn).__name__))
        return submit(self, fn, *args)

    with Runtime(manager) as rt:
        rt.register_agent(ReActAgent("bot", ScriptedModel(["one", "two"])))
        rt.call_with_session("bot", "hello", "s")  # the first turn creates the session
        monkeypatch.setattr(StoreIO, "_submit", counted)
        rt.call_with_session("bot", "again", "s")
        monkeypatch.undo()
        assert len(trips) == 2, trips
        with manager.get("s").lease(wait=0):  # free once the turn returned
            pass
        assert [m["content"] for m in manager.get("s").get_messages()] == ["hello", "one", "again", "two"]


def test_with_auto_checkpoints_the_lease_is_freed_after_the_checkpoint(manager: Manager) -> None:
    with Runtime(manager, auto_checkpoint=True) as rt:
        rt.register_agent(ReActAgent("bot", ScriptedModel(["one"])))
        rt.call_with_session("bot", "hello", "s")
        session = manager.get("s")
        assert len(session.checkpoints()) == 1
        with session.lease(wait=0):
            pass
