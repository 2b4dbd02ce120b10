"""A ReAct agent with an MCP server's tools, over the real openai client and the local
OpenAI-compatible test server: results stored with what the server sent, failures told to the model,
no ``tools/list`` per turn, schemas cleaned only for a server that refuses them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator

import pytest

from aixgo.agents import ReActAgent
from aixgo.agents.tools.mcp import MCPHub, MCPServerSpec, MCPToolset
from aixgo.llm import OpenAIChatModel, RetryPolicy
from aixgo.session import EntryType, Manager, Session
from tests.agents.mcp.conftest import toolset
from tests.agents.mcp.test_connection import stats
from tests.support.openai_server import OpenAIServer, call, tool_calls


@pytest.fixture
def llm() -> Iterator[OpenAIServer]:
    with OpenAIServer(personality="openai") as server:
        yield server


@pytest.fixture
def session(session_manager: Manager) -> Session:
    return session_manager.create("assistant", "mcp-1")


def agent_for(llm: OpenAIServer, retries: RetryPolicy, *tools: object) -> ReActAgent:
    model = OpenAIChatModel("test-model", base_url=llm.base_url, api_key="sk-test", retry_policy=retries)
    return ReActAgent("assistant", model, "You are a test.", tools=["calculator", *tools], model_name="test-model")  # type: ignore[list-item]


def results(session: Session) -> list[dict[str, object]]:
    return [e.data for e in session.get_entries() if e.type is EntryType.TOOL_RESULT]


def test_a_turn_calls_an_mcp_tool_and_stores_its_result(
    hub: MCPHub, stdio_spec: MCPServerSpec, llm: OpenAIServer, fast_retries: RetryPolicy, session: Session
) -> None:
    tools = toolset(hub, stdio_spec)
    agent = agent_for(llm, fast_retries, tools)
    llm.enqueue(tool_calls(call("add", {"a": 2, "b": 40})), "2 + 40 = 42")
    result = asyncio.run(agent.run_turn(session, "Add 2 and 40 with the tool."))
    assert result.answer == "2 + 40 = 42" and result.tool_calls == 1
    stored = results(session)[0]
    assert stored["output"] == {"server": "test", "tool": "add", "is_error": False,
                                "content": [{"type": "text", "text": stored["content"]}],
                                "structured_content": {"sum": 42}}
    offered = {t["function"]["name"]: t["function"]["parameters"] for t in llm.chat_requests[0]["tools"]}
    assert offered["add"] == next(t for t in tools.connection.tools if t.name == "add").input_schema  # as listed
    sent = [m for m in llm.chat_requests[-1]["messages"] if m["role"] == "tool"]
    assert sent == [{"role": "tool", "tool_call_id": stored["tool_call_id"], "content": stored["content"]}]


def test_turns_after_the_first_never_list_tools_again(
    hub: MCPHub, stdio_spec: MCPServerSpec, llm: OpenAIServer, fast_retries: RetryPolicy, session: Session
) -> None:
    tools = toolset(hub, stdio_spec)
    agent = agent_for(llm, fast_retries, tools)
    for number in range(5):
        llm.enqueue(tool_calls(call("echo", {"text": f"turn {number}"})), f"answer {number}")
        assert asyncio.run(agent.run_turn(session, f"Echo turn {number}")).answer == f"answer {number}"
    assert stats(tools)["tools_list"] == 1 and tools.connection.list_requests == 1


def test_a_server_that_dies_mid_turn_becomes_a_result_the_model_reads_and_the_turn_goes_on(
    hub: MCPHub, stdio_spec: MCPServerSpec, llm: OpenAIServer, fast_retries: RetryPolicy, session: Session
) -> None:
    tools = toolset(hub, stdio_spec)
    agent = agent_for(llm, fast_retries, tools)
    llm.enqueue(tool_calls(call("crash", {})), tool_calls(call("echo", {"text": "again"})), "The server recovered.")
    result = asyncio.run(agent.run_turn(session, "Crash it."))
    assert result.answer == "The server recovered." and result.tool_calls == 2
    crashed, echoed = results(session)
    assert str(crashed["content"]).startswith("Error: the MCP server 'test' stopped while crash was running")
    assert crashed["output"] == {"server": "test", "tool": "crash", "is_error": True, "failure": "stopped"}
    assert echoed["content"] == "again"
    told = [m["content"] for m in llm.chat_requests[-2]["messages"] if m["role"] == "tool"]
    assert told == [crashed["content"]]


def test_a_server_killed_between_turns_does_not_fail_the_next_turn(
    hub: MCPHub, stdio_spec: MCPServerSpec, llm: OpenAIServer, fast_retries: RetryPolicy, session: Session
) -> None:
    tools = toolset(hub, stdio_spec)
    agent = agent_for(llm, fast_retries, tools)
    os.kill(stats(tools)["pid"], signal.SIGKILL)
    llm.enqueue(tool_calls(call("echo", {"text": "still works"})), "done")
    assert asyncio.run(agent.run_turn(session, "Echo.")).answer == "done"
    assert results(session)[0]["content"] == "still works"


def test_loose_mcp_schemas_are_cleaned_only_after_the_server_refuses_them(
    hub: MCPHub, stdio_spec: MCPServerSpec, llm: OpenAIServer, fast_retries: RetryPolicy, session: Session
) -> None:
    tools = toolset(hub, stdio_spec)
    agent = agent_for(llm, fast_retries, tools)
    llm.enqueue(tool_calls(call("loose_array", {"ids": [1, 2]})), "listed")
    assert asyncio.run(agent.run_turn(session, "List them.")).answer == "listed"
    assert results(session)[0]["content"] == "loose got [1, 2]"
    first, retried = (
        {t["function"]["name"]: t["function"]["parameters"] for t in body["tools"]} for body in llm.chat_requests[:2]
    )
    assert first["loose_object"] == {"type": "object"} and retried["loose_object"] == {"type": "object", "properties": {}}
    assert retried["loose_array"]["properties"]["ids"] == {"type": "array", "items": {}}


def test_a_name_clash_with_a_fixed_tool_keeps_the_fixed_one(
    hub: MCPHub, stdio_spec: MCPServerSpec, llm: OpenAIServer, fast_retries: RetryPolicy, session: Session
) -> None:
    agent = agent_for(llm, fast_retries, toolset(hub, stdio_spec))
    names = [t["function"]["name"] for t in agent.tools.schemas()]
    assert names.count("calculator") == 1 and names[0] == "calculator"
    assert agent.tools.get("calculator") is not None and agent.tools.get("calculator").source == "built-in"  # type: ignore[union-attr]


def test_an_agent_connects_its_mcp_server_on_its_first_turn(
    hub: MCPHub, stdio_spec: MCPServerSpec, llm: OpenAIServer, fast_retries: RetryPolicy, session: Session
) -> None:
    """Built by hand (no runtime to start it), the server is connected lazily, before the first request."""
    tools = MCPToolset(stdio_spec, hub=hub)
    agent = agent_for(llm, fast_retries, tools)
    assert not tools.connection.connected
    llm.enqueue(tool_calls(call("echo", {"text": "lazy"})), "ok")
    assert asyncio.run(agent.run_turn(session, "Echo.")).answer == "ok"
    assert "echo" in [t["function"]["name"] for t in llm.chat_requests[0]["tools"]]
    assert json.loads(json.dumps(results(session)[0]))["content"] == "lazy"
