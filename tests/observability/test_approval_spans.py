"""Traces of a turn that pauses for approval and of the decision that continues it."""

from __future__ import annotations

from opentelemetry.trace import StatusCode

from aixgo.agents import ReActAgent, tool
from aixgo.llm import OpenAIChatModel
from tests.observability.conftest import RuntimeFactory, Traced, tree
from tests.support.openai_server import OpenAIServer, Reply, call, tool_calls


@tool(require_approval=True)
def deploy(version: str) -> str:
    """Deploy a version.

    Args:
        version: The version.
    """
    return f"deployed {version}"


def test_the_pause_and_the_continuation_are_each_an_invoke_agent_span(
    traced: Traced, traced_runtime: RuntimeFactory, server_model: OpenAIChatModel, openai_server: OpenAIServer
) -> None:
    openai_server.enqueue(tool_calls(call("deploy", {"version": "2"}, id="call_d")), Reply(content="Deployed."))
    runtime = traced_runtime(traced, ReActAgent("ops", server_model, tools=[deploy]))
    assert runtime.call_with_session("ops", "ship 2", "t-1").paused
    assert tree(traced.spans()) == [(0, "invoke_agent ops"), (1, "chat test-model")]  # nothing ran
    paused = traced.one("invoke_agent")
    assert (paused.attributes or {})["aixgo.turn.outcome"] == "pending_approval"
    assert paused.status.status_code is not StatusCode.ERROR
    traced.spans_exporter.clear()
    assert runtime.decide("t-1", "call_d", "approve").answer == "Deployed."
    assert tree(traced.spans()) == [(0, "invoke_agent ops"), (1, "execute_tool deploy"), (1, "chat test-model")]
    continued = traced.one("invoke_agent")
    assert (continued.attributes or {})["aixgo.turn.outcome"] == "answered"
    assert (continued.attributes or {})["gen_ai.conversation.id"] == "t-1"
