"""Hooks around a turn and each of its steps (``ReActAgent(observers=[...])``), as a tracer would use
them: each step starts and ends in order, with what it came to; failures, cancellations, context
overflows and compactions are seen; and an observer never changes the turn's outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from aixgo.agents import ReActAgent, TurnObserver, TurnStep
from aixgo.agents.context.tokens import TokenCounter
from aixgo.errors import ContextWindowExceededError, LLMUnavailableError
from aixgo.llm import ModelResponse, ModelSettings, Usage
from aixgo.runtime import Runtime
from aixgo.session import EntryType, FileBackend, Manager, MemoryBackend, Session
from aixgo.testing import FunctionModel, ScriptedModel, tool_call


class Recorder(TurnObserver):
    """Records each step's start and end, as a tracer opens and closes spans."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    @contextmanager
    def observe(self, step: TurnStep) -> Iterator[None]:
        self.seen.append(("start", step.kind, step.name, step.number))
        try:
            yield
        finally:
            error = type(step.error).__name__ if step.error is not None else None
            self.seen.append(("end", step.kind, step.name, dict(step.details), error))


@pytest.fixture
def session() -> Iterator[Session]:
    with Manager(MemoryBackend()) as manager:
        yield manager.create("bot", "s-1")


def test_each_step_starts_and_ends_in_order_with_what_it_came_to(session: Session) -> None:
    recorder = Recorder()
    model = ScriptedModel([
        ModelResponse(None, [tool_call("calculator", {"expression": "6*7"}, id="c1")], "tool_calls", Usage(10, 5, 15)),
        ModelResponse("42", finish_reason="stop", usage=Usage(20, 1, 21)),
    ])
    agent = ReActAgent("bot", model, tools=["calculator"], model_name="m-1", observers=[recorder])
    assert asyncio.run(agent.run_turn(session, "6*7?")).answer == "42"
    assert recorder.seen == [
        ("start", "turn", "bot", 0),
        ("start", "model", "m-1", 1),
        ("end", "model", "m-1", {"finish_reason": "tool_calls", "tool_calls": 1, "input_tokens": 10,
                                 "output_tokens": 5}, None),
        ("start", "tool", "calculator", 1),
        ("end", "tool", "calculator", {"call_id": "c1", "source": "built-in", "is_error": False}, None),
        ("start", "model", "m-1", 2),
        ("end", "model", "m-1", {"finish_reason": "stop", "tool_calls": 0, "input_tokens": 20, "output_tokens": 1},
         None),
        ("end", "turn", "bot", {"outcome": "answered", "steps": 2, "tool_calls": 1, "total_tokens": 36,
                                "input_tokens": 30, "output_tokens": 6}, None),
    ]


def test_a_failed_model_request_fails_its_step_and_the_turn(session: Session) -> None:
    recorder = Recorder()
    agent = ReActAgent("bot", ScriptedModel([LLMUnavailableError("down")]), observers=[recorder])
    with pytest.raises(LLMUnavailableError):
        asyncio.run(agent.run_turn(session, "hi"))
    assert recorder.seen[-2:] == [
        ("end", "model", "", {}, "LLMUnavailableError"),
        ("end", "turn", "bot", {"outcome": "failed", "steps": 1, "tool_calls": 0, "total_tokens": 0,
                                "input_tokens": 0, "output_tokens": 0}, "LLMUnavailableError"),
    ]
    assert [e.type for e in session.get_entries()][-2:] == [EntryType.ERROR, EntryType.USAGE]


def test_an_observer_that_swallows_an_error_does_not_change_the_outcome(session: Session) -> None:
    class Swallower(TurnObserver):
        @contextmanager
        def observe(self, step: TurnStep) -> Iterator[None]:
            with suppress(Exception):  # a buggy hook
                yield

    agent = ReActAgent("bot", ScriptedModel([LLMUnavailableError("down")]), observers=[Swallower()])
    with pytest.raises(LLMUnavailableError):
        asyncio.run(agent.run_turn(session, "hi"))
    assert session.get_entries()[-2].data["error"] == "LLMUnavailableError"


def test_a_cancelled_stream_ends_the_turn_as_cancelled(tmp_path: Path) -> None:
    recorder, started = Recorder(), asyncio.Event()

    async def slow(messages: Any, tools: Any, settings: ModelSettings) -> str:
        started.set()
        await asyncio.sleep(30)
        return "never"

    runtime = Runtime(Manager(FileBackend(tmp_path / "store", fsync="never")))
    runtime.register_agent(ReActAgent("bot", FunctionModel(slow), observers=[recorder]))

    async def leave_early() -> None:
        events = runtime.astream_with_session("bot", "hi", "s-2")
        assert (await anext(events)).type == "step"
        await started.wait()
        await events.aclose()

    with runtime:
        asyncio.run(leave_early())
    assert recorder.seen[-2:] == [
        ("end", "model", "", {}, "CancelledError"),
        ("end", "turn", "bot", {"outcome": "cancelled", "steps": 1, "tool_calls": 0, "total_tokens": 0,
                                "input_tokens": 0, "output_tokens": 0}, "CancelledError"),
    ]


def test_a_context_overflow_and_the_compaction_it_leads_to_are_steps(session: Session) -> None:
    counter, limit = TokenCounter(), 400

    def model(messages: list[dict[str, Any]], tools: Any, settings: ModelSettings) -> str:
        if counter.messages(messages) > limit:
            raise ContextWindowExceededError("maximum context length is 400 tokens", limit=limit)
        if messages[0]["content"].startswith("You maintain the memory"):
            return "summary of earlier turns"
        return "ok"

    for number in range(6):  # history that will not fit the window the server is about to name
        session.append_message("user", f"question {number} " + "lorem ipsum " * 15)
        session.append_message("assistant", f"answer {number}")
    recorder = Recorder()
    agent = ReActAgent("bot", FunctionModel(model), observers=[recorder])
    assert asyncio.run(agent.run_turn(session, "and now?")).answer == "ok"
    steps = [(event[0], event[1], event[-1]) for event in recorder.seen]
    assert steps == [
        ("start", "turn", 0),
        ("start", "model", 1),
        ("end", "model", "ContextWindowExceededError"),  # refused: the window is learned, the step runs again
        ("start", "compact", 1),  # fitting the request of step 1
        ("end", "compact", None),
        ("start", "model", 1),
        ("end", "model", None),
        ("end", "turn", None),
    ]
    compacted = recorder.seen[4][3]
    assert compacted["requests"] >= 1 and compacted["folded_turns"] >= 1  # type: ignore[operator]
