"""The ReAct loop with offline models: steps, persistence, failures, history, formats."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import ANY

import pytest

from aixgo.agents import ReActAgent, TurnResult, agent_from_config, tool
from aixgo.errors import AgentError, LLMUnavailableError, MaxStepsExceededError, ToolError
from aixgo.llm import ModelResponse, ModelSettings, ToolCall, Usage
from aixgo.session import EntryType, Manager, Session, session_from_context
from aixgo.testing import FunctionModel, ScriptedModel, tool_call
from tests.support.fixtures import LogCapture


def run(agent: ReActAgent, session: Session, message: str) -> TurnResult:
    return asyncio.run(agent.run_turn(session, message))


def kinds(session: Session) -> list[str]:
    return [e.type.value for e in session.get_entries()]


def assert_valid_history(messages: list[dict[str, Any]]) -> None:
    """Every tool call is answered right after its message, and every result has a call."""
    pending: list[str] = []
    for message in messages:
        if message["role"] == "tool":
            assert message["tool_call_id"] in pending, message
            pending.remove(message["tool_call_id"])
            continue
        assert not pending, f"unanswered calls {pending} before {message}"
        pending = [c["id"] for c in message.get("tool_calls") or []]
    assert not pending


@pytest.fixture
def session(session_manager: Manager) -> Session:
    return session_manager.create("assistant", "s-1")


def test_plain_answer_persists_user_answer_and_usage(session: Session) -> None:
    model = ScriptedModel([ModelResponse("Hi Ada.", usage=Usage(10, 3, 13), finish_reason="stop")])
    agent = ReActAgent("assistant", model, "You are terse.", model_name="m", temperature=0.3)
    result = run(agent, session, "Hello, I am Ada.")
    assert result == TurnResult("Hi Ada.", 1, Usage(10, 3, 13), "s-1", "assistant", 0, "stop")
    entries = session.get_entries()
    assert [(e.type, e.data) for e in entries] == [
        (EntryType.MESSAGE, {"role": "user", "content": "Hello, I am Ada."}),
        (EntryType.MESSAGE, {"role": "assistant", "content": "Hi Ada."}),
        (EntryType.USAGE, {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13, "requests": 1,
                           "estimated_prompt_tokens": ANY}),  # for the next process's token calibration
    ]
    (request,) = model.requests
    assert request.messages == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hello, I am Ada."},
    ]
    assert request.tools == []
    assert request.settings == ModelSettings(model="m", temperature=0.3)


def test_history_is_sent_on_the_next_turn(session: Session) -> None:
    model = ScriptedModel(["first answer", "second answer"])
    agent = ReActAgent("assistant", model)
    run(agent, session, "one")
    run(agent, session, "two")
    assert model.requests[1].messages == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "two"},
    ]


def test_multi_step_tool_use(session: Session) -> None:
    model = ScriptedModel(
        [
            ModelResponse(
                "Let me compute.",
                [tool_call("calculator", {"expression": "6*7"}, id="c1")],
                usage=Usage(5, 5, 10),
            ),
            [
                tool_call("calculator", {"expression": "42+1"}, id="c2"),
                tool_call("current_time", {}, id="c3"),
            ],
            ModelResponse("43, and it is late.", usage=Usage(7, 2, 9)),
        ]
    )
    agent = ReActAgent("assistant", model, tools=["calculator", "current_time"])
    result = run(agent, session, "compute")
    assert result.answer == "43, and it is late."
    assert (result.steps, result.tool_calls, result.usage) == (3, 3, Usage(12, 7, 19))
    assert kinds(session) == [
        "message",
        "tool_call",
        "tool_result",
        "tool_call",
        "tool_result",
        "tool_result",
        "message",
        "usage",
    ]
    entries = session.get_entries()
    assert entries[1].data == {
        "role": "assistant",
        "content": "Let me compute.",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'},
            }
        ],
    }
    assert entries[2].data == {"role": "tool", "tool_call_id": "c1", "content": "42"}
    assert entries[4].data["content"] == "43"
    assert entries[5].data["tool_call_id"] == "c3" and "UTC" in entries[5].data["content"]
    assert entries[-1].data == {
        "prompt_tokens": 12,
        "completion_tokens": 7,
        "total_tokens": 19,
        "requests": 3,
        "unreported_requests": 1,
        "estimated_prompt_tokens": ANY,
    }
    # The model saw its own calls and the results in the second and third requests.
    third = model.requests[2].messages
    assert [m["role"] for m in third] == ["user", "assistant", "tool", "assistant", "tool", "tool"]
    assert model.requests[0].tool_names == ["calculator", "current_time"]
    assert_valid_history(session.get_messages())


def test_invalid_json_arguments_become_an_observation(session: Session) -> None:
    model = ScriptedModel([tool_call("calculator", '{"expression": "1+', id="bad"), "I fixed nothing."])
    agent = ReActAgent("assistant", model, tools=["calculator"])
    assert run(agent, session, "x").answer == "I fixed nothing."
    call_entry, result_entry = session.get_entries()[1:3]
    stored_args = call_entry.data["tool_calls"][0]["function"]["arguments"]
    assert json.loads(stored_args) == {"_invalid_arguments": '{"expression": "1+'}  # valid JSON, raw kept
    assert result_entry.data["tool_call_id"] == "bad"
    assert "not valid JSON" in result_entry.data["content"]
    assert model.requests[1].messages[-1] == result_entry.data


def test_tool_exception_is_observed_and_logged(session: Session, aixgo_logs: LogCapture) -> None:
    @tool
    def flaky(x: int) -> int:
        """Fails."""
        raise ConnectionError("upstream down")

    model = ScriptedModel([tool_call("flaky", {"x": 1}, id="f1"), "Sorry, the service is down."])
    result = run(ReActAgent("assistant", model, tools=[flaky]), session, "go")
    assert result.answer == "Sorry, the service is down."
    assert session.get_entries()[2].data["content"] == "Error: flaky failed: ConnectionError: upstream down"
    (event,) = aixgo_logs.named("tool.failed")
    assert event["session_id"] == "s-1" and event["agent"] == "assistant"


def test_unknown_tool_is_an_observation(session: Session) -> None:
    model = ScriptedModel([tool_call("nope", {}, id="n1"), "ok"])
    run(ReActAgent("assistant", model, tools=["calculator"]), session, "go")
    assert "no tool named 'nope'" in session.get_entries()[2].data["content"]


def test_tools_see_the_session_in_context(session: Session) -> None:
    @tool
    def whoami() -> str:
        """The current session id."""
        current = session_from_context()
        return current.id if current else "none"

    @tool
    async def awhoami() -> str:
        """The current session id."""
        current = session_from_context()
        return current.id if current else "none"

    model = ScriptedModel([[tool_call("whoami", id="w1"), tool_call("awhoami", id="w2")], "done"])
    run(ReActAgent("assistant", model, tools=[whoami, awhoami]), session, "who?")
    assert [e.data["content"] for e in session.get_entries()[2:4]] == ["s-1", "s-1"]
    assert session_from_context() is None


def test_max_steps_keeps_partial_turn_and_valid_history(session: Session, aixgo_logs: LogCapture) -> None:
    loop_forever = FunctionModel(lambda m, t, s: tool_call("calculator", {"expression": "1+1"}))
    agent = ReActAgent("assistant", loop_forever, tools=["calculator"], max_steps=3)
    with pytest.raises(MaxStepsExceededError) as info:
        run(agent, session, "loop")
    assert info.value.steps == 3 and info.value.agent == "assistant"
    assert "max_steps" in str(info.value)
    assert kinds(session) == ["message", *["tool_call", "tool_result"] * 3, "error", "usage"]
    error = session.get_entries()[-2].data
    assert error["error"] == "MaxStepsExceededError" and error["steps"] == 3
    assert session.get_entries()[-1].data["requests"] == 3
    assert_valid_history(session.get_messages())
    assert aixgo_logs.named("agent.turn.failed")
    # The session stays usable: the next turn works and sees a valid history.
    model = ScriptedModel(["fresh start"])
    assert run(ReActAgent("assistant", model), session, "again").answer == "fresh start"
    assert_valid_history(model.requests[0].messages)


def test_model_failure_mid_turn_is_recorded(session: Session) -> None:
    model = ScriptedModel(
        [tool_call("calculator", {"expression": "2*2"}, id="c1"), LLMUnavailableError("down", status_code=503, attempts=3)]
    )
    with pytest.raises(LLMUnavailableError):
        run(ReActAgent("assistant", model, tools=["calculator"]), session, "x")
    assert kinds(session) == ["message", "tool_call", "tool_result", "error", "usage"]
    assert session.get_entries()[3].data["error"] == "LLMUnavailableError"
    assert_valid_history(session.get_messages())


def fill_tool_turns(session: Session, turns: int) -> None:
    for i in range(turns):
        session.append_message("user", f"old {i}")
        session.append_message(
            "assistant", None, tool_calls=[ToolCall(f"k{i}", "calculator", "{}").to_openai()]
        )
        session.append_message("tool", "1", tool_call_id=f"k{i}")
        session.append_message("assistant", f"answer {i}")
        session.append_entry(EntryType.USAGE, {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (0, []),
        (1, [{"role": "assistant", "content": "answer 2"}]),
        # The last 2 history messages start with a tool result: trimming moves past it.
        (2, [{"role": "assistant", "content": "answer 2"}]),
        (
            3,
            [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [ToolCall("k2", "calculator", "{}").to_openai()],
                },
                {"role": "tool", "content": "1", "tool_call_id": "k2"},
                {"role": "assistant", "content": "answer 2"},
            ],
        ),
        (4, None),  # the user message, then the three above
    ],
)
def test_max_history_messages_trims_without_splitting_calls(
    session: Session, limit: int, expected: list[dict[str, Any]] | None
) -> None:
    fill_tool_turns(session, 3)
    model = ScriptedModel(["now"])
    run(ReActAgent("assistant", model, "sys", max_history_messages=limit), session, "new")
    sent = model.requests[0].messages
    assert sent[0] == {"role": "system", "content": "sys"} and sent[-1] == {"role": "user", "content": "new"}
    history = sent[1:-1]
    if expected is None:
        assert history[0] == {"role": "user", "content": "old 2"} and len(history) == 4
    else:
        assert history == expected
    assert_valid_history(sent[1:])


def test_unbounded_history_sends_everything(session: Session) -> None:
    fill_tool_turns(session, 3)
    model = ScriptedModel(["now"])
    run(ReActAgent("assistant", model), session, "new")
    assert len(model.requests[0].messages) == 13


def test_duplicate_or_missing_tool_call_ids_are_made_unique(session: Session) -> None:
    model = ScriptedModel(
        [
            [
                ToolCall("same", "calculator", '{"expression": "1"}'),
                ToolCall("same", "calculator", '{"expression": "2"}'),
                ToolCall("", "calculator", '{"expression": "3"}'),
            ],
            "ok",
        ]
    )
    run(ReActAgent("assistant", model, tools=["calculator"]), session, "x")
    ids = [c["id"] for c in session.get_entries()[1].data["tool_calls"]]
    assert ids[0] == "same" and len(set(ids)) == 3 and all(ids)
    assert [e.data["tool_call_id"] for e in session.get_entries()[2:5]] == ids
    assert_valid_history(session.get_messages())


def test_truncated_answer_reports_length(session: Session, aixgo_logs: LogCapture) -> None:
    model = ScriptedModel([ModelResponse("The answer is", finish_reason="length")])
    result = run(ReActAgent("assistant", model, max_tokens=5), session, "x")
    assert (result.answer, result.finish_reason) == ("The answer is", "length")
    assert model.requests[0].settings.max_tokens == 5
    assert aixgo_logs.named("agent.truncated")


def test_content_null_without_calls_is_an_empty_answer(session: Session) -> None:
    result = run(ReActAgent("assistant", ScriptedModel([ModelResponse(None)])), session, "x")
    assert result.answer == ""
    assert session.get_entries()[1].data == {"role": "assistant", "content": ""}


def test_logs_carry_ids_but_no_content(session: Session, aixgo_logs: LogCapture) -> None:
    model = ScriptedModel(
        [tool_call("calculator", {"expression": "123456789*2"}, id="c"), "secret answer text"]
    )
    run(
        ReActAgent("assistant", model, "secret system prompt", tools=["calculator"]),
        session,
        "secret user text",
    )
    start, end = aixgo_logs.named("agent.turn.start")[0], aixgo_logs.named("agent.turn.end")[0]
    assert start["session_id"] == "s-1" and start["agent"] == "assistant"
    assert end["steps"] == 2 and end["tool_calls"] == 1
    joined = "\n".join(aixgo_logs.texts)
    for secret in ("secret", "123456789", "246913578"):
        assert secret not in joined


# -- text format -------------------------------------------------------------------------------


def test_text_format_loop(session: Session) -> None:
    model = ScriptedModel(
        [
            'Thought: math\nAction: calculator\nAction Input: {"expression": "6*7"}\nObservation: 41 (invented)',
            "Thought: that was it\nAction: calculator\nAction Input: 2 +",
            "I am not following the format, but here is my answer: 42",
        ]
    )
    agent = ReActAgent("assistant", model, "Be exact.", tools=["calculator"], react_format="text")
    result = run(agent, session, "what is 6*7?")
    assert result.answer == "I am not following the format, but here is my answer: 42"
    assert (result.steps, result.tool_calls) == (3, 2)
    request = model.requests[0]
    assert request.tools == []  # tools are described in the prompt instead
    assert request.settings.stop == ("\nObservation:",)
    system = request.messages[0]["content"]
    assert system.startswith("Be exact.\n") and "Action Input:" in system and "calculator" in system
    entries = session.get_entries()
    assert kinds(session) == ["message", "message", "message", "message", "message", "message", "usage"]
    assert entries[1].data["content"].endswith('Action Input: {"expression": "6*7"}')  # invented part dropped
    assert entries[2].data == {"role": "user", "content": "Observation: 42"}
    assert entries[4].data["content"].startswith("Observation: Error: ")
    assert model.requests[2].messages[-1] == entries[4].data


def test_text_format_error_is_fed_back(session: Session) -> None:
    model = ScriptedModel(["Thought: hmm, let me think", "Final Answer: fine"])
    agent = ReActAgent("assistant", model, react_format="text")
    assert run(agent, session, "x").answer == "fine"
    assert model.requests[1].messages[-1]["content"].startswith("Observation: Error: expected 'Action:'")
    assert session.get_entries()[-2].data == {"role": "assistant", "content": "fine"}


# -- construction ------------------------------------------------------------------------------


def test_bad_construction() -> None:
    model = ScriptedModel()
    with pytest.raises(AgentError, match="max_steps"):
        ReActAgent("a", model, max_steps=0)
    with pytest.raises(AgentError, match="react_format"):
        ReActAgent("a", model, react_format="xml")
    with pytest.raises(AgentError, match="max_history_messages"):
        ReActAgent("a", model, max_history_messages=-1)
    with pytest.raises(ToolError, match="unknown tool"):
        ReActAgent("a", model, tools=["nope"])
    assert "calculator" in repr(ReActAgent("a", model, tools=["calculator"]))


@dataclass
class FakeLLM:
    provider: str = "scripted"
    base_url: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    script: list[str] | None = field(default_factory=lambda: ["scripted hello"])


@dataclass
class FakeAgentConfig:
    name: str = "helper"
    model: str = "gpt-test"
    role: str = "react"
    prompt: str = "Help."
    tools: list[str] = field(default_factory=lambda: ["calculator"])
    max_steps: int = 4
    on_max_steps: str = "answer"
    temperature: float | None = 0.5
    max_history_messages: int | None = 10
    react_format: str = "native"
    llm: FakeLLM = field(default_factory=FakeLLM)


def test_agent_from_config(session_manager: Manager) -> None:
    agent = agent_from_config(FakeAgentConfig())
    assert (agent.name, agent.prompt, agent.tools.names, agent.max_steps) == (
        "helper",
        "Help.",
        ["calculator"],
        4,
    )
    assert agent.settings == ModelSettings(model="gpt-test", temperature=0.5)
    assert agent.max_history_messages == 10
    session = session_manager.create("helper", "cfg")
    assert run(agent, session, "hi").answer == "scripted hello"
    with pytest.raises(AgentError, match="role 'planner'"):
        agent_from_config(FakeAgentConfig(role="planner"))
    replaced = ScriptedModel(["x"])
    assert agent_from_config(FakeAgentConfig(), model=replaced).model is replaced


def test_agent_from_the_real_config_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    config = pytest.importorskip("aixgo.config.model")
    llm = config.LLMConfig(provider="openai", base_url="http://127.0.0.1:9/v1", timeout=2.0, max_retries=1)
    agent = agent_from_config(config.AgentConfig(name="a", model="m", tools=["current_time"], llm=llm))
    assert agent.model.base_url == "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
    assert agent.model.retry_policy.max_retries == 1  # type: ignore[attr-defined]
    assert agent.tools.names == ["current_time"]
