"""The same scenarios against every server personality we know (tests/support/openai_server.py):
the real ``openai`` client, the ReAct agent and a real session, over real HTTP.

A scenario passes on a personality when the user gets the answer and the session holds a history
that the next request can send as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from aixgo.agents import ReActAgent
from aixgo.agents.events import TextDeltaEvent, ToolResultEvent, TurnEvent
from aixgo.agents.tools import BaseTool, ToolResult
from aixgo.errors import LLMRequestError
from aixgo.llm import OpenAIChatModel, RetryPolicy
from aixgo.session import Manager, Session
from tests.support.openai_server import OpenAIServer, call, tool_calls

WORKING = ["openai", "llama.cpp", "ollama", "vllm"]


@pytest.fixture(params=WORKING)
def server(request: pytest.FixtureRequest) -> Iterator[OpenAIServer]:
    with OpenAIServer(personality=request.param) as started:
        yield started


def _agent(server: OpenAIServer, retries: RetryPolicy) -> ReActAgent:
    model = OpenAIChatModel("test-model", base_url=server.base_url, api_key="sk-test", retry_policy=retries)
    return ReActAgent("assistant", model, "You are a test.", tools=["calculator"], model_name="test-model")


@pytest.fixture
def session(session_manager: Manager) -> Session:
    return session_manager.create("assistant", "conformance")


def _turn(agent: ReActAgent, session: Session, text: str) -> str:
    return asyncio.run(agent.run_turn(session, text)).answer


def _streamed_turn(agent: ReActAgent, session: Session, text: str) -> tuple[str, list[TurnEvent]]:
    """A turn as ``aixgo run`` and ``aixgo serve`` run it: the answer streamed to an event sink."""
    events: list[TurnEvent] = []

    async def collect(event: TurnEvent) -> None:
        events.append(event)

    return asyncio.run(agent.run_turn(session, text, on_event=collect)).answer, events


def test_plain_answer(server: OpenAIServer, fast_retries: RetryPolicy, session: Session) -> None:
    server.enqueue("Hello!")
    assert _turn(_agent(server, fast_retries), session, "Hi") == "Hello!"


def test_tool_call_then_answer(server: OpenAIServer, fast_retries: RetryPolicy, session: Session) -> None:
    server.enqueue(tool_calls(call("calculator", {"expression": "17*23"})), "391")
    assert _turn(_agent(server, fast_retries), session, "What is 17*23?") == "391"
    result = [e.data for e in session.get_entries() if e.type.value == "tool_result"]
    assert result[0]["content"] == "391"


def test_two_tool_calls_in_one_reply(server: OpenAIServer, fast_retries: RetryPolicy, session: Session) -> None:
    server.enqueue(
        tool_calls(call("calculator", {"expression": "1+1"}), call("calculator", {"expression": "2*3"})), "2 and 6"
    )
    assert _turn(_agent(server, fast_retries), session, "1+1 and 2*3?") == "2 and 6"
    assert [e.data["content"] for e in session.get_entries() if e.type.value == "tool_result"] == ["2", "6"]


def test_invalid_tool_arguments(server: OpenAIServer, fast_retries: RetryPolicy, session: Session) -> None:
    server.enqueue(tool_calls(call("calculator", '{"expression": "1+')), "Sorry, let me retry: 2")
    assert _turn(_agent(server, fast_retries), session, "1+1?") == "Sorry, let me retry: 2"
    result = next(e.data for e in session.get_entries() if e.type.value == "tool_result")
    assert result["content"].startswith("Error: the arguments are not valid JSON")


def test_a_turn_after_a_tool_turn(server: OpenAIServer, fast_retries: RetryPolicy, session: Session) -> None:
    agent = _agent(server, fast_retries)
    server.enqueue(tool_calls(call("calculator", {"expression": "2+2"})), "4", "You asked about 2+2.")
    _turn(agent, session, "2+2?")
    assert _turn(agent, session, "What did I ask?") == "You asked about 2+2."
    history = server.chat_requests[-1]["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "tool", "assistant", "user"]


def test_vllm_without_auto_tool_choice_says_how_to_start_it(
    fast_retries: RetryPolicy, session: Session
) -> None:
    with OpenAIServer(personality="vllm-no-auto-tools") as server, pytest.raises(LLMRequestError) as caught:
        _turn(_agent(server, fast_retries), session, "2+2?")
    text = str(caught.value)
    assert "--enable-auto-tool-choice" in text and "tool_choice: none" in text


def test_streamed_tool_call_then_answer(server: OpenAIServer, fast_retries: RetryPolicy, session: Session) -> None:
    server.enqueue(tool_calls(call("calculator", {"expression": "17*23"})), "It is 391")
    answer, events = _streamed_turn(_agent(server, fast_retries), session, "What is 17*23?")
    assert answer == "It is 391"
    assert "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == "It is 391"
    assert [e.content for e in events if isinstance(e, ToolResultEvent)] == ["391"]


def test_a_server_that_streams_nothing_with_tools_is_asked_whole_once_and_from_then_on(
    fast_retries: RetryPolicy, session: Session
) -> None:
    """llama-cpp-python with a function-calling chat format opens the stream (200) and closes it empty
    when tools are offered: that step is asked again without streaming, its text given as one delta,
    and every later step with tools skips the failed attempt."""
    with OpenAIServer(personality="llama.cpp") as server:
        agent = _agent(server, fast_retries)
        server.enqueue(tool_calls(call("calculator", {"expression": "17*23"})), "It is 391", "You asked 17*23.")
        answer, events = _streamed_turn(agent, session, "What is 17*23?")
        assert answer == "It is 391"
        assert [e.text for e in events if isinstance(e, TextDeltaEvent)] == ["It is 391"]
        assert _streamed_turn(agent, session, "What did I ask?")[0] == "You asked 17*23."
        asked = [bool(body.get("stream")) for body in server.chat_requests]
    assert asked == [True, False, False, False]  # one failed attempt, then whole answers only
    assert [e.type.value for e in session.get_entries()].count("error") == 0


def test_a_stored_tool_result_with_details_is_sent_without_them(
    server: OpenAIServer, fast_retries: RetryPolicy, session: Session
) -> None:
    """A tool result stores more than the model reads (an MCP server's content blocks, under
    ``output``); OpenAI refuses a message with a field it does not know, so only the chat fields go."""
    session.append_message("user", "What time is it?")
    call_id = "call_1"
    session.append_message("assistant", None, tool_calls=[call("get_time", {}, id=call_id)])
    session.append_message("tool", "12:00", tool_call_id=call_id, output={"server": "time", "content": []})
    session.append_message("assistant", "It is noon.")
    server.enqueue("Still noon.")
    assert _turn(_agent(server, fast_retries), session, "And now?") == "Still noon."
    sent = [m for m in server.chat_requests[-1]["messages"] if m["role"] == "tool"]
    assert sent == [{"role": "tool", "tool_call_id": call_id, "content": "12:00"}]


class _Loose(BaseTool):
    """A tool whose parameters are as loose as some MCP servers write them."""

    def __init__(self, name: str, parameters: dict[str, Any]) -> None:
        self.name, self.description, self.parameters = name, f"The {name} tool.", parameters

    async def run(self, arguments: Mapping[str, Any], *, max_chars: int = 16_000) -> ToolResult:
        return ToolResult(f"{self.name} ran with {sorted(arguments)}")


LOOSE_SCHEMAS = {
    "no_properties": {"type": "object"},
    "untyped_items": {"type": "object", "properties": {"ids": {"type": "array"}}},
    "nullable": {"type": "object", "properties": {"when": {"type": ["string", "null"]}}},
}
REFUSES_LOOSE_SCHEMAS = {"openai", "ollama"}
"""OpenAI refuses a root without properties and an array without items; ollama 0.6 a list of types."""


def test_tool_schemas_go_as_they_are_and_are_cleaned_only_for_a_server_that_refuses_them(
    server: OpenAIServer, fast_retries: RetryPolicy, session: Session
) -> None:
    tools = [_Loose(name, schema) for name, schema in LOOSE_SCHEMAS.items()]
    model = OpenAIChatModel("test-model", base_url=server.base_url, api_key="sk-test", retry_policy=fast_retries)
    agent = ReActAgent("assistant", model, "You are a test.", tools=tools, model_name="test-model")
    server.enqueue(tool_calls(call("untyped_items", {"ids": [1, 2]})), "done", "again")
    assert _turn(agent, session, "Use the tools.") == "done"
    assert [e.data["content"] for e in session.get_entries() if e.type.value == "tool_result"] == [
        "untyped_items ran with ['ids']"]
    assert _streamed_turn(agent, session, "Once more.")[0] == "again"
    bodies = server.chat_requests
    sent = [{t["function"]["name"]: t["function"]["parameters"] for t in body["tools"]} for body in bodies]
    if server.personality in REFUSES_LOOSE_SCHEMAS:
        assert sent[0] == LOOSE_SCHEMAS  # refused once, then every request cleaned from the start
        cleaned = sent[1]
        assert cleaned["no_properties"] == {"type": "object", "properties": {}}
        assert cleaned["untyped_items"]["properties"]["ids"] == {"type": "array", "items": {}}
        assert cleaned["nullable"]["properties"]["when"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
        assert all(schemas == cleaned for schemas in sent[1:]) and len(sent) == 4
        assert bodies[3].get("stream")  # a schema refusal is not taken for a server that cannot stream
    else:
        assert all(schemas == LOOSE_SCHEMAS for schemas in sent)


def test_a_refused_schema_in_a_streamed_first_turn_costs_one_refused_request(
    fast_retries: RetryPolicy, session: Session
) -> None:
    with OpenAIServer(personality="openai") as server:
        model = OpenAIChatModel("test-model", base_url=server.base_url, api_key="sk-test", retry_policy=fast_retries)
        agent = ReActAgent("assistant", model, "You are a test.", tools=[_Loose("no_properties", {"type": "object"})],
                           model_name="test-model")
        server.enqueue("whole", "streamed")
        assert _streamed_turn(agent, session, "Hi")[0] == "whole"
        assert _streamed_turn(agent, session, "Hi again")[0] == "streamed"
        requests = [(bool(body.get("stream")), body["tools"][0]["function"]["parameters"]) for body in server.chat_requests]
    cleaned = {"type": "object", "properties": {}}
    assert requests == [(True, {"type": "object"}), (False, cleaned), (True, cleaned)]
