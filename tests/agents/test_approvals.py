"""A turn that meets a tool call needing approval pauses, stored, and continues when every call of the
step is decided: through the runtime's API, over real HTTP to the local OpenAI-compatible server.
(Other processes, restarts, ``aixgo run`` and ``aixgo serve``: tests/runtime/test_approvals_*.py.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aixgo.agents import ReActAgent
from aixgo.agents.tools import BUILTIN_TOOLS, Tool, ToolRegistry
from aixgo.cli.render import usage_totals
from aixgo.errors import (
    ApprovalDecidedError,
    ApprovalNotFoundError,
    ApprovalPendingError,
    MaxStepsExceededError,
)
from aixgo.llm import OpenAIChatModel, RetryPolicy
from aixgo.runtime import Runtime
from aixgo.session import FileBackend, Manager
from aixgo.session.history import WAITING_RESULT
from tests.support.approval_tools import look, record, runs
from tests.support.openai_server import OpenAIServer, call, text, tool_calls


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as started:
        yield started


@pytest.fixture
def ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "runs.txt"
    monkeypatch.setenv("AIXGO_TEST_RUNS", str(path))
    return path


def runtime_for(server: OpenAIServer, tmp_path: Path, **agent: Any) -> Runtime:
    model = OpenAIChatModel("test-model", base_url=server.base_url, api_key="sk-test",
                            retry_policy=RetryPolicy(max_retries=0))
    runtime = Runtime(Manager(FileBackend(tmp_path / "store", fsync="never")))
    tools = ToolRegistry([Tool(look), Tool(record, require_approval=True), BUILTIN_TOOLS["calculator"]])
    runtime.register_agent(ReActAgent("bot", model, "You are a test.", tools=tools, model_name="test-model", **agent))
    return runtime


def entry_types(runtime: Runtime, session_id: str) -> list[str]:
    return [e.type.value for e in runtime.session_manager.get(session_id).get_entries()]


def test_a_call_that_needs_approval_pauses_the_turn_and_nothing_of_its_step_runs(
    server: OpenAIServer, tmp_path: Path, ran: Path
) -> None:
    server.enqueue(tool_calls(call("look", {"topic": "diff"}, id="call_look"),
                              call("record", {"label": "release"}, id="call_record"), content="Let me check."))
    with runtime_for(server, tmp_path) as runtime:
        result = runtime.call_with_session("bot", "release it", "s1")
        assert (result.outcome, result.paused, result.answer, result.steps, result.tool_calls) == (
            "pending_approval", True, "Let me check.", 1, 0)
        assert [(a.call_id, a.name, json.loads(a.arguments), a.status) for a in result.approvals] == [
            ("call_record", "record", {"label": "release"}, "pending")]
        assert runs(ran) == []  # neither the call that waits nor the harmless one of the same step
        assert entry_types(runtime, "s1") == ["message", "tool_call", "approval_request", "usage"]
        assert runtime.pending_approvals("s1") == list(result.approvals)
        messages = runtime.session_manager.get("s1").get_messages()
        assert [(m["role"], m.get("content")) for m in messages[2:]] == [("tool", WAITING_RESULT)] * 2


def test_approving_continues_the_same_turn_running_the_step_in_order(
    server: OpenAIServer, tmp_path: Path, ran: Path
) -> None:
    server.enqueue(tool_calls(call("look", {"topic": "diff"}, id="call_look"),
                              call("record", {"label": "release"}, id="call_record")), text("Released."))
    with runtime_for(server, tmp_path) as runtime:
        paused = runtime.call_with_session("bot", "release it", "s1")
        result = runtime.decide("s1", "call_record", "approve", by="alice")
        assert (result.outcome, result.answer, result.steps, result.tool_calls) == ("answered", "Released.", 2, 2)
        assert result.usage.total_tokens == paused.usage.total_tokens + 18 and result.approvals == ()
        assert runs(ran) == ["look diff", "record release"]
        sent = server.chat_requests[-1]["messages"]
        assert [(m["role"], m.get("content")) for m in sent[-3:]] == [
            ("assistant", ""), ("tool", "diff looks fine"), ("tool", "recorded release")]
        assert sent[1] == {"role": "user", "content": "release it"}  # the same turn, not a new one
        assert entry_types(runtime, "s1") == ["message", "tool_call", "approval_request", "usage",
                                              "approval_decision", "tool_result", "tool_result", "message", "usage"]
        session = runtime.session_manager.get("s1")
        assert session.pending_approval() is None and runtime.pending_approvals("s1") == []
        used = usage_totals(session.get_entries())  # one turn, its tokens before and after the pause
        assert (used.turns, used.total_tokens) == (1, result.usage.total_tokens)
        decision = session.get_entries()[4].data
        assert (decision["decision"], decision["by"]) == ("approve", "alice")


def test_a_denied_call_never_runs_and_the_model_reads_why(server: OpenAIServer, tmp_path: Path, ran: Path) -> None:
    server.enqueue(tool_calls(call("record", {"label": "release"}, id="call_record")), text("Understood, not now."))
    with runtime_for(server, tmp_path) as runtime:
        runtime.call_with_session("bot", "release it", "s1")
        result = runtime.decide("s1", "call_record", "deny", reason="not on a Friday")
        assert result.answer == "Understood, not now."
        assert runs(ran) == []
        denial = server.chat_requests[-1]["messages"][-1]
        assert denial["role"] == "tool" and denial["tool_call_id"] == "call_record"
        assert "denied" in denial["content"] and "not on a Friday" in denial["content"]
        stored = runtime.session_manager.get("s1").get_entries()[-3].data
        assert stored["output"] == {"approval": {"decision": "deny", "reason": "not on a Friday"}}


def test_each_call_of_a_step_is_decided_and_the_turn_goes_on_once_all_are(
    server: OpenAIServer, tmp_path: Path, ran: Path
) -> None:
    server.enqueue(tool_calls(call("record", {"label": "a"}, id="call_a"), call("record", {"label": "b"}, id="call_b"),
                              call("calculator", {"expression": "2*3"}, id="call_c")), text("Done."))
    with runtime_for(server, tmp_path) as runtime:
        runtime.call_with_session("bot", "record both", "s1")
        half = runtime.decide("s1", "call_b", "approve")
        assert (half.outcome, [a.call_id for a in half.approvals]) == ("pending_approval", ["call_a"])
        assert half.steps == 0 and runs(ran) == [] and len(server.chat_requests) == 1
        with pytest.raises(ApprovalDecidedError, match="already approved"):
            runtime.decide("s1", "call_b", "deny")
        with pytest.raises(ApprovalNotFoundError, match="call_c"):
            runtime.decide("s1", "call_c", "approve")  # needs no approval
        done = runtime.decide("s1", "call_a", "deny")
        assert done.answer == "Done." and runs(ran) == ["record b"]
        results = [m["content"] for m in server.chat_requests[-1]["messages"] if m["role"] == "tool"]
        assert results[1:] == ["recorded b", "6"] and "denied" in results[0]
        with pytest.raises(ApprovalNotFoundError, match="no tool call waiting"):
            runtime.decide("s1", "call_a", "approve")


def test_a_new_turn_is_refused_while_a_call_waits_and_stores_nothing(
    server: OpenAIServer, tmp_path: Path, ran: Path
) -> None:
    server.enqueue(tool_calls(call("record", {"label": "x"}, id="call_x")))
    with runtime_for(server, tmp_path) as runtime:
        runtime.call_with_session("bot", "record x", "s1")
        before = entry_types(runtime, "s1")
        with pytest.raises(ApprovalPendingError, match="waits for approval of record") as caught:
            runtime.call_with_session("bot", "never mind", "s1")
        assert caught.value.call_ids == ("call_x",) and caught.value.session_id == "s1"
        assert entry_types(runtime, "s1") == before and len(server.chat_requests) == 1


def test_invalid_arguments_are_not_put_to_a_person(server: OpenAIServer, tmp_path: Path, ran: Path) -> None:
    """A call that could not run anyway (its arguments do not match the schema) is answered at once."""
    server.enqueue(tool_calls(call("record", {"wrong": 1}, id="call_bad")), text("Oops."))
    with runtime_for(server, tmp_path) as runtime:
        result = runtime.call_with_session("bot", "record", "s1")
        assert result.outcome == "answered" and runs(ran) == []
        assert "invalid arguments for record" in server.chat_requests[-1]["messages"][-1]["content"]


def test_the_steps_of_a_turn_count_across_its_pause(server: OpenAIServer, tmp_path: Path, ran: Path) -> None:
    server.enqueue(tool_calls(call("look", {"topic": "a"})), tool_calls(call("record", {"label": "b"}, id="call_b")),
                   tool_calls(call("look", {"topic": "c"})))
    with runtime_for(server, tmp_path, max_steps=3, on_max_steps="error") as runtime:
        paused = runtime.call_with_session("bot", "go", "s1")
        assert paused.steps == 2
        with pytest.raises(MaxStepsExceededError, match="all 3 steps"):
            runtime.decide("s1", "call_b", "approve")
        assert runs(ran) == ["look a", "record b", "look c"]
        # the failed turn is closed: nothing waits, a new turn may start
        assert runtime.pending_approvals("s1") == []


def test_a_streamed_turn_says_it_waits_and_a_streamed_decision_continues_it(
    server: OpenAIServer, tmp_path: Path, ran: Path
) -> None:
    server.enqueue(tool_calls(call("record", {"label": "x"}, id="call_x")), text("All done now."))

    async def scenario(runtime: Runtime) -> tuple[list[Any], list[Any]]:
        paused = [event async for event in runtime.astream_with_session("bot", "record x", "s1")]
        continued = [event async for event in runtime.astream_decide("s1", "call_x", "approve")]
        return paused, continued

    with runtime_for(server, tmp_path) as runtime:
        paused, continued = asyncio.run(scenario(runtime))
    assert [e.type for e in paused] == ["step", "approval_required", "turn_end"]
    assert [a.call_id for a in paused[1].approvals] == ["call_x"] and paused[-1].result.paused
    assert [e.type for e in continued][:3] == ["tool_call", "tool_result", "step"]
    assert continued[1].content == "recorded x" and continued[-1].type == "turn_end"
    assert "".join(e.text for e in continued if e.type == "text_delta") == "All done now."


def test_the_sync_streamed_decision(server: OpenAIServer, tmp_path: Path, ran: Path) -> None:
    server.enqueue(tool_calls(call("record", {"label": "x"}, id="call_x")), text("Fine."))
    with runtime_for(server, tmp_path) as runtime:
        runtime.call_with_session("bot", "record x", "s1")
        events = list(runtime.stream_decide("s1", "call_x", "deny", reason="no"))
    assert events[-1].result.answer == "Fine." and runs(ran) == []


def test_the_text_format_pauses_and_continues_too(server: OpenAIServer, tmp_path: Path, ran: Path) -> None:
    server.enqueue(text('Thought: write it down\nAction: record\nAction Input: {"label": "t"}'),
                   text("Thought: done\nFinal Answer: Written."))
    with runtime_for(server, tmp_path, react_format="text") as runtime:
        paused = runtime.call_with_session("bot", "write t", "s1")
        assert paused.paused and paused.approvals[0].name == "record"
        assert runs(ran) == []
        result = runtime.decide("s1", paused.approvals[0].call_id, "approve")
        assert result.answer == "Written." and runs(ran) == ["record t"]
        last = server.chat_requests[-1]["messages"][-1]
        assert last == {"role": "user", "content": "Observation: recorded t"}


def test_an_agent_policy_and_an_unknown_session(server: OpenAIServer, tmp_path: Path, ran: Path) -> None:
    model = OpenAIChatModel("test-model", base_url=server.base_url, api_key="sk-test",
                            retry_policy=RetryPolicy(max_retries=0))
    with Runtime(Manager(FileBackend(tmp_path / "store", fsync="never"))) as runtime:
        tools = ToolRegistry([BUILTIN_TOOLS["calculator"]], require_approval=["calc*"])
        runtime.register_agent(ReActAgent("bot", model, tools=tools, model_name="test-model"))
        server.enqueue(tool_calls(call("calculator", {"expression": "1+1"}, id="c1")), text("2"))
        assert runtime.call_with_session("bot", "1+1?", "s1").paused
        assert runtime.decide("s1", "c1", True).answer == "2"  # True approves, False denies
        from aixgo.errors import SessionNotFoundError

        with pytest.raises(SessionNotFoundError):
            runtime.pending_approvals("nope")
