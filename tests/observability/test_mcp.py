"""An MCP tool turn, traced: the tool's ``execute_tool`` span names ``mcp`` as its source and the
server's address, and the call to the MCP server (streamable HTTP, tests/support/mcp_server.py) carries
the span's trace context on, in its ``_meta`` and in its HTTP ``traceparent`` header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aixgo.agents import ReActAgent
from aixgo.agents.tools.mcp import MCPHub, MCPServerSpec, MCPToolset
from aixgo.llm import OpenAIChatModel
from tests.agents.mcp.conftest import HttpServer
from tests.observability.conftest import RuntimeFactory, Traced, tree
from tests.support.openai_server import OpenAIServer, Reply, call, tool_calls


@pytest.fixture
def traced_server(tmp_path: Path) -> Iterator[tuple[HttpServer, Path]]:
    traces = tmp_path / "traceparents.txt"
    server = HttpServer(tmp_path / "mcp.log", "--traces", str(traces)).start()
    yield server, traces
    server.stop()


def test_an_mcp_tool_call_is_a_span_whose_context_reaches_the_server(
    traced: Traced, traced_runtime: RuntimeFactory, server_model: OpenAIChatModel, openai_server: OpenAIServer,
    traced_server: tuple[HttpServer, Path],
) -> None:
    server, traces = traced_server
    hub = MCPHub()
    try:
        toolset = MCPToolset(MCPServerSpec.http("test", server.url, call_timeout=20, connect_timeout=20), hub=hub)
        openai_server.enqueue(tool_calls(call("echo", {"text": "ping"}, id="call_mcp")), Reply(content="pong"))
        runtime = traced_runtime(traced, ReActAgent("bot", server_model, tools=[toolset]))
        assert runtime.call_with_session("bot", "echo ping", "mcp-1").answer == "pong"
    finally:
        hub.close()
    assert tree(traced.spans()) == [
        (0, "invoke_agent bot"), (1, "chat test-model"), (1, "execute_tool echo"), (1, "chat test-model")]
    tool = traced.one("execute_tool")
    attributes = dict(tool.attributes or {})
    assert attributes["aixgo.tool.source"] == "mcp" and attributes["gen_ai.tool.call.id"] == "call_mcp"
    assert attributes["server.address"] == "127.0.0.1" and attributes["server.port"] == server.port
    sent = [line.split("-") for line in traces.read_text().splitlines()]
    # the tool call (the last request) names the execute_tool span; the connection's own requests at
    # the turn's start (discovery, tools/list) carry the trace too, as the mcp SDK propagates it itself
    assert (sent[-1][1], sent[-1][2]) == (f"{tool.context.trace_id:032x}", f"{tool.context.span_id:016x}")
    assert {part[1] for part in sent} == {f"{tool.context.trace_id:032x}"}
