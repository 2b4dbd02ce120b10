"""Streamed turns over real HTTP: the real ``openai`` client streaming from the local server, through
the agent and the runtime, as ``Runtime.astream_with_session`` / ``stream_with_session`` yield them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aixgo.agents import ReActAgent
from aixgo.llm import OpenAIChatModel, RetryPolicy
from aixgo.runtime import Runtime
from aixgo.session import EntryType, FileBackend, Manager
from aixgo.testing import ScriptedModel
from tests.support.openai_server import OpenAIServer, call, text, tool_calls


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as started:
        yield started


def runtime_for(server: OpenAIServer, tmp_path: Path) -> Runtime:
    model = OpenAIChatModel("test-model", base_url=server.base_url, api_key="sk-test",
                            retry_policy=RetryPolicy(max_retries=0))
    runtime = Runtime(Manager(FileBackend(tmp_path / "store", fsync="never")))
    runtime.register_agent(ReActAgent("bot", model, "You are a test.", tools=["calculator"], model_name="test-model"))
    return runtime


async def collect(runtime: Runtime, message: str, session_id: str) -> list[Any]:
    return [event async for event in runtime.astream_with_session("bot", message, session_id)]


def test_text_arrives_as_the_model_sends_it(server: OpenAIServer, tmp_path: Path) -> None:
    rest = threading.Event()  # the server sends the rest of the answer only once the first word got through
    server.enqueue(text("one two three four five six", hold=rest))

    async def collect_releasing() -> list[Any]:
        events = []
        async for event in runtime.astream_with_session("bot", "count", "s1"):
            if event.type == "text_delta":
                rest.set()
            events.append(event)
        return events

    with runtime_for(server, tmp_path) as runtime:
        events = asyncio.run(collect_releasing())
        assert server.holds_timed_out == 0  # the first word arrived while the model still held the rest back
        kinds = [event.type for event in events]
        assert kinds[0] == "step" and kinds[-1] == "turn_end" and set(kinds[1:-1]) == {"text_delta"}
        deltas = [event.text for event in events if event.type == "text_delta"]
        assert len(deltas) == 6 and "".join(deltas) == "one two three four five six"
        result = events[-1].result
        assert result.answer == "one two three four five six" and result.usage.total_tokens == 18
        stored = [e.data for e in runtime.session_manager.get("s1").get_entries()]
        assert stored[1] == {"role": "assistant", "content": "one two three four five six"}  # whole, once
        assert server.chat_requests[0]["stream"] is True
        assert server.chat_requests[0]["stream_options"] == {"include_usage": True}


def test_tool_calls_and_results_are_events(server: OpenAIServer, tmp_path: Path) -> None:
    server.enqueue(tool_calls(call("calculator", {"expression": "17*23"})), text("It is 391."))
    with runtime_for(server, tmp_path) as runtime:
        events = asyncio.run(collect(runtime, "17*23?", "s2"))
        kinds = [event.type for event in events]  # type: ignore[attr-defined]
        assert kinds == ["step", "tool_call", "tool_result", "step", "text_delta", "text_delta", "text_delta",
                         "turn_end"]
        assert events[1].name == "calculator" and '"17*23"' in events[1].arguments  # type: ignore[attr-defined]
        assert events[2].content == "391"  # type: ignore[attr-defined]
        entries = runtime.session_manager.get("s2").get_entries()
        assert [e.type for e in entries][:4] == [EntryType.MESSAGE, EntryType.TOOL_CALL, EntryType.TOOL_RESULT,
                                                 EntryType.MESSAGE]


def test_leaving_a_stream_midway_stores_no_partial_answer(server: OpenAIServer, tmp_path: Path) -> None:
    server.enqueue(text("a b c d e f g h", chunk_delay=0.05))
    with runtime_for(server, tmp_path) as runtime:

        async def leave_early() -> None:
            async for event in runtime.astream_with_session("bot", "tell me", "s3"):
                if event.type == "text_delta":
                    break

        asyncio.run(leave_early())
        session = runtime.session_manager.get("s3")
        kinds = [(e.type, e.data.get("role")) for e in session.get_entries()]
        assert kinds[0] == (EntryType.MESSAGE, "user")
        assert (EntryType.MESSAGE, "assistant") not in kinds  # the partial answer is not stored
        error = next(e for e in session.get_entries() if e.type is EntryType.ERROR)
        assert error.data["error"] == "CancelledError" and error.data["turn_from_seq"] == 1
        server.enqueue("fine")
        assert runtime.call_with_session("bot", "again", "s3").answer == "fine"
        users = [m["content"] for m in server.chat_requests[-1]["messages"] if m["role"] == "user"]
        assert users == ["again"]  # the cancelled turn is not sent again
        assert session.lease(ttl=5, wait=0)  # and the lease was released


def test_the_sync_twin_and_a_model_that_cannot_stream(tmp_path: Path) -> None:
    runtime = Runtime(Manager(FileBackend(tmp_path / "store", fsync="never")))
    runtime.register_agent(ReActAgent("bot", ScriptedModel(["whole answer"])))
    with runtime:
        events = list(runtime.stream_with_session("bot", "hi", "s4"))
    assert [e.type for e in events] == ["step", "text_delta", "turn_end"]
    assert events[1].text == "whole answer"  # type: ignore[union-attr]


def test_a_server_without_stream_options_still_streams(tmp_path: Path) -> None:
    with OpenAIServer(rejects_stream_options=True) as server:
        server.enqueue("no usage here")
        with runtime_for(server, tmp_path) as runtime:
            events = asyncio.run(collect(runtime, "hi", "s5"))
        assert "".join(e.text for e in events if e.type == "text_delta") == "no usage here"  # type: ignore[attr-defined]
        assert "stream_options" not in server.chat_requests[-1]
