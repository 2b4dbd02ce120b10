"""An agent written only against the public :class:`aixgo.Agent` protocol (not a ``ReActAgent``) runs
through every entry of the runtime: sync, async, streamed, cancelled, closed.

The agent below uses nothing but the protocol: ``name``, ``begin_turn`` (blocking, on the store's
I/O pool, with the session's lease held: it reads what the turn needs and stores the user message)
returning an object whose ``run(on_event)`` finishes the turn, and ``aclose``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import pytest

from aixgo.agents import TurnResult
from aixgo.agents.events import EventSink, StepEvent, TextDeltaEvent
from aixgo.llm import Usage
from aixgo.runtime import Runtime
from aixgo.session import EntryType, FileBackend, Manager, Session, session_from_context


class EchoTurn:
    """Answers with the user's message and how many earlier messages it was sent."""

    def __init__(self, agent: EchoAgent, session: Session, text: str, earlier: int) -> None:
        self.agent, self.session, self.text, self.earlier = agent, session, text, earlier

    async def run(self, on_event: EventSink | None = None) -> TurnResult:
        assert session_from_context() is self.session  # the runtime runs the turn with its session in context
        if on_event is not None:
            await on_event(StepEvent(1))
        self.agent.running.set()
        try:
            if self.agent.gate is not None:
                await self.agent.gate.wait()
        except asyncio.CancelledError:
            self.agent.cancelled.append(self.text)
            raise
        answer = f"echo #{self.earlier}: {self.text}"
        if on_event is not None:
            first, *rest = answer.split(" ")
            for text in [first, *(" " + word for word in rest)]:
                await on_event(TextDeltaEvent(text))
        await self.session.aappend_message("assistant", answer)
        return TurnResult(answer, 1, Usage(), self.session.id, self.agent.name)


class EchoAgent:
    """An agent kind of its own: nothing inherited, only what the protocol names."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.gate: asyncio.Event | None = None  # when set: each turn waits for it
        self.running = asyncio.Event()
        self.cancelled: list[str] = []
        self.closed = 0

    def begin_turn(self, session: Session, user_message: str) -> EchoTurn:
        earlier = len(session.get_messages())
        session.append_message("user", user_message)
        return EchoTurn(self, session, user_message, earlier)

    async def aclose(self) -> None:
        self.closed += 1


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(Manager(FileBackend(tmp_path / "store", fsync="never")))
    runtime.register_agent(EchoAgent("echo"))
    with runtime:
        yield runtime


def stored(runtime: Runtime, session_id: str) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in runtime.session_manager.get(session_id).get_messages()]


def test_sync_and_async_calls(runtime: Runtime) -> None:
    assert runtime.call_with_session("echo", "hello", "s1").answer == "echo #0: hello"
    result = asyncio.run(runtime.acall_with_session("echo", "again", "s1"))
    assert (result.answer, result.session_id, result.agent) == ("echo #2: again", "s1", "echo")
    assert stored(runtime, "s1") == [
        ("user", "hello"), ("assistant", "echo #0: hello"), ("user", "again"), ("assistant", "echo #2: again"),
    ]


def test_streamed_events_are_the_agents_own_then_turn_end(runtime: Runtime) -> None:
    async def collect() -> list[object]:
        return [event async for event in runtime.astream_with_session("echo", "hi there", "s2")]

    events = asyncio.run(collect())
    assert [e.type for e in events] == ["step", *["text_delta"] * 4, "turn_end"]  # type: ignore[attr-defined]
    assert "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == "echo #0: hi there"
    assert events[-1].result.answer == "echo #0: hi there"  # type: ignore[attr-defined]
    assert [e.type for e in runtime.stream_with_session("echo", "sync", "s2")][-1] == "turn_end"  # type: ignore[attr-defined]


def test_a_cancelled_turn_is_cancelled_in_the_agent_and_frees_the_lease(runtime: Runtime) -> None:
    agent = runtime.agent("echo")
    assert isinstance(agent, EchoAgent)

    async def cancel_a_call() -> None:
        task = asyncio.create_task(runtime.acall_with_session("echo", "call", "s3"))
        await agent.running.wait()  # the turn runs (its user message is stored)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def leave_a_stream() -> None:
        async with aclosing(runtime.astream_with_session("echo", "stream", "s3")) as events:
            async for event in events:
                assert event.type == "step"
                break
        assert agent.cancelled == ["call", "stream"]  # cancelled before the iteration was closed

    async def main() -> None:
        agent.gate, agent.running = asyncio.Event(), asyncio.Event()  # of this event loop
        await cancel_a_call()
        await leave_a_stream()

    asyncio.run(main())
    assert agent.cancelled == ["call", "stream"]
    session = runtime.session_manager.get("s3")
    with session.lease(wait=0):  # free: the runtime released it whatever the agent did
        pass
    agent.gate = None
    assert runtime.call_with_session("echo", "done", "s3").answer == "echo #2: done"


def test_close_closes_the_agent(tmp_path: Path) -> None:
    agent = EchoAgent("echo")
    runtime = Runtime(Manager(FileBackend(tmp_path / "store", fsync="never")))
    runtime.register_agent(agent)
    runtime.call_with_session("echo", "hi", "s4")
    runtime.close()
    assert agent.closed == 1
    assert [e.type for e in Manager(FileBackend(tmp_path / "store")).get("s4").get_entries()] == [
        EntryType.MESSAGE, EntryType.MESSAGE,
    ]
