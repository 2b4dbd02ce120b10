"""A ReAct turn driven by hand, one public step at a time, as ``ReActTurn.run`` drives it: what each step
stores and counts (prepare, ask, account, act with run_tool / persist / record_result, finish, result,
total_usage), compaction (compact), the failure record (record_end), a learned window (learn_window),
and a paused turn continued by ``ReActAgent.resume_turn`` (wait_for_approval, settle)."""

from __future__ import annotations

import asyncio

from aixgo.agents import ContextSettings, ReActAgent, ReActTurn
from aixgo.agents.tools import BUILTIN_TOOLS, Tool, ToolRegistry, ToolResult
from aixgo.errors import ContextWindowExceededError
from aixgo.llm import ModelResponse, Usage
from aixgo.session import EntryType, Manager, Session
from aixgo.session.core.approvals import decision_data
from aixgo.testing import ScriptedModel, tool_call


def kinds(session: Session) -> list[str]:
    return [e.type.value for e in session.get_entries()]


async def one_step(turn: ReActTurn) -> None:
    request, counted, settings = await turn.prepare()
    response = await turn.ask(request, counted, settings)
    assert response is not None
    turn.account(response, counted)
    await turn.act(response)


def test_one_turn_step_by_step(session_manager: Manager) -> None:
    session = session_manager.create("assistant", "s-steps")
    model = ScriptedModel([
        ModelResponse(None, tool_calls=[tool_call("calculator", '{"expression": "17*23"}', id="c1")],
                      usage=Usage(10, 2, 12), finish_reason="tool_calls"),
        ModelResponse("391", usage=Usage(20, 1, 21), finish_reason="stop"),
    ])
    agent = ReActAgent("assistant", model, "Be terse.", tools=["calculator"])

    async def drive() -> None:
        turn = agent.begin_turn(session, "What is 17 * 23?")
        assert kinds(session) == ["message"] and turn.user_seq == 1
        request, counted, _ = await turn.prepare()
        assert request[0]["role"] == "system" and request[-1] == {"role": "user", "content": "What is 17 * 23?"}
        assert counted > 0
        await one_step_counted(turn)
        assert kinds(session) == ["message", "tool_call", "tool_result"]
        assert (turn.tool_runs, turn.outcome, turn.usage) == (1, None, Usage(10, 2, 12))
        await turn.step()  # the same four steps, as run() takes them
        assert (turn.outcome, turn.answer) == ("answered", "391")
        assert kinds(session) == ["message", "tool_call", "tool_result"]  # the answer waits for finish
        await turn.finish()
        assert kinds(session) == ["message", "tool_call", "tool_result", "message", "usage"]
        result = turn.result()
        assert (result.answer, result.steps, result.tool_calls) == ("391", 2, 1)
        assert turn.total_usage == result.usage == Usage(30, 3, 33)

    async def one_step_counted(turn: ReActTurn) -> None:
        turn.steps += 1  # what run()'s step counts before it prepares
        await one_step(turn)

    asyncio.run(drive())
    assert session.get_entries()[2].data["content"] == "391"  # the calculator's result, stored by record_result


def test_record_end_stores_the_failure_and_the_tokens(session_manager: Manager) -> None:
    session = session_manager.create("assistant", "s-fail")
    agent = ReActAgent("assistant", ScriptedModel(["unused"]), "Be terse.")

    async def drive() -> None:
        turn = agent.begin_turn(session, "hello")
        await turn.persist({"role": "assistant", "content": None, "tool_calls": []})
        await turn.record_end(RuntimeError("boom"))

    asyncio.run(drive())
    entries = session.get_entries()
    assert [e.type for e in entries][-2:] == [EntryType.ERROR, EntryType.USAGE]
    assert entries[-2].data["turn_from_seq"] == 1 and "boom" in str(entries[-2].data)


def test_learn_window_stores_a_window_the_session_did_not_know(session_manager: Manager) -> None:
    session = session_manager.create("assistant", "s-window")
    agent = ReActAgent("assistant", ScriptedModel(["unused"]), "Be terse.")

    async def drive() -> None:
        turn = agent.begin_turn(session, "hello")
        _, counted, _ = await turn.prepare()
        await turn.learn_window(ContextWindowExceededError("too long", limit=4096, requested=9000), counted)

    asyncio.run(drive())
    assert agent.budget.window("s-window") == 4096
    assert session.get_entries()[-1].type is EntryType.METADATA


def record(label: str) -> str:
    """Record a label."""
    return f"recorded {label}"


def test_a_paused_turn_continues_through_resume_turn(session_manager: Manager) -> None:
    session = session_manager.create("assistant", "s-pause")
    model = ScriptedModel([tool_call("record", '{"label": "v1"}', id="c1"), "Recorded."])
    tools = ToolRegistry([Tool(record, require_approval=True)])
    agent = ReActAgent("assistant", model, "Be terse.", tools=tools)

    async def pause() -> None:
        turn = agent.begin_turn(session, "record v1")
        turn.steps += 1
        await one_step(turn)
        assert turn.outcome == "pending_approval" and turn.tool_runs == 0  # wait_for_approval said wait
        await turn.finish()

    asyncio.run(pause())
    assert kinds(session) == ["message", "tool_call", "approval_request", "usage"]
    request = session.pending_approval()
    assert request is not None
    session.append_entry(EntryType.APPROVAL_DECISION, decision_data(request.entry_id, "c1", "approve"))
    decided = session.pending_approval()
    assert decided is not None and decided.complete
    result = asyncio.run(agent.resume_turn(session, decided).run())  # settle runs the approved call first
    assert (result.answer, result.tool_calls) == ("Recorded.", 1)
    assert [e.data.get("content") for e in session.get_entries() if e.type is EntryType.TOOL_RESULT] == [
        "recorded v1"]


class Shelf:
    """A tool source (a stand-in for an MCP server's connection): tools that come and go."""

    label = "shelf"

    def __init__(self) -> None:
        self.prepared = 0

    def tools(self) -> list[Tool]:
        return [Tool(record)]

    async def aprepare(self) -> None:
        self.prepared += 1


def test_run_tool_and_record_result_with_a_tool_from_a_source(session_manager: Manager) -> None:
    session = session_manager.create("assistant", "s-source")
    shelf, registry = Shelf(), ToolRegistry()
    registry.add_source(shelf)
    checked = registry.check("record", '{"label": "x"}')
    assert not isinstance(checked, ToolResult) and checked[1] == {"label": "x"}
    assert isinstance(registry.check("record", '{"nope": 1}'), ToolResult)  # an observation, not a run
    agent = ReActAgent("assistant", ScriptedModel(["unused"]), "Be terse.", tools=registry)

    async def drive() -> None:
        turn = agent.begin_turn(session, "record x")
        await registry.aprepare()
        await turn.persist({"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "record", "arguments": '{"label": "x"}'}}]})
        result = await turn.run_tool("c1", "record", '{"label": "x"}')
        await turn.record_result("c1", result, native=True)
        assert (result.content, turn.tool_runs) == ("recorded x", 1)

    asyncio.run(drive())
    assert shelf.prepared == 1
    assert session.get_messages()[-1] == {"role": "tool", "tool_call_id": "c1", "content": "recorded x"}


def test_wait_for_approval_and_settle(session_manager: Manager) -> None:
    session = session_manager.create("assistant", "s-settle")
    tools = ToolRegistry([Tool(record, require_approval=True), BUILTIN_TOOLS["calculator"]])
    agent = ReActAgent("assistant", ScriptedModel(["unused"]), "Be terse.", tools=tools)
    calls = [("c1", "calculator", '{"expression": "1+1"}'), ("c2", "record", '{"label": "y"}')]

    async def drive() -> None:
        turn = agent.begin_turn(session, "go")
        assert turn.wait_for_approval(calls[:1], None) is False  # nothing in it needs a person
        assert turn.wait_for_approval(calls, "checking") is True
        assert (turn.outcome, turn.answer, turn.tool_runs) == ("pending_approval", "checking", 0)
        await turn.persist({"role": "assistant", "content": "checking", "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
            for cid, name, args in calls]})
        await turn.finish()

    asyncio.run(drive())
    request = session.pending_approval()
    assert request is not None
    session.append_entry(EntryType.APPROVAL_DECISION, decision_data(request.entry_id, "c2", "deny", reason="no"))
    decided = session.pending_approval()
    assert decided is not None

    async def settle() -> None:
        turn = agent.resume_turn(session, decided)
        await turn.settle(decided)
        assert turn.tool_runs == 1  # the calculator ran, the denied call did not

    asyncio.run(settle())
    results = [m["content"] for m in session.get_messages() if m["role"] == "tool"]
    assert results[0] == "2" and "denied" in results[1] and "no" in results[1]


def test_compact_folds_the_oldest_turns_into_a_summary(session_manager: Manager) -> None:
    session = session_manager.create("assistant", "s-compact")
    for n in range(8):
        session.append_message("user", f"question {n} " + "words " * 60)
        session.append_message("assistant", f"answer {n} " + "words " * 60)
    agent = ReActAgent("assistant", ScriptedModel(["They asked eight questions."] * 8), "Be terse.",
                       context=ContextSettings(window=1200))

    async def drive() -> None:
        turn = agent.begin_turn(session, "and now?")
        before = len(turn.conversation.turns)
        await turn.compact()
        assert turn.conversation.summary is not None and len(turn.conversation.turns) < before

    asyncio.run(drive())
    summaries = [e for e in session.get_entries() if e.type is EntryType.SUMMARY]
    assert summaries and summaries[-1].data["content"] == "They asked eight questions."
