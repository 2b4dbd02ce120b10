"""The ReAct agent over real HTTP: the real ``openai`` client against the local scripted server.

After each scenario the test asserts what the session persisted.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest.mock import ANY

import pytest

from aixgo.agents import ReActAgent, TurnResult
from aixgo.errors import LLMRequestError, LLMUnavailableError
from aixgo.llm import OpenAIChatModel, RetryPolicy, Usage
from aixgo.session import Manager, Session
from tests.support.fixtures import RecordingSleep
from tests.support.openai_server import OpenAIServer, call, error, text, tool_calls


def run(agent: ReActAgent, session: Session, message: str) -> TurnResult:
    return asyncio.run(agent.run_turn(session, message))


def stored(session: Session) -> list[tuple[str, dict[str, Any]]]:
    return [(e.type.value, e.data) for e in session.get_entries()]


@pytest.fixture
def session(session_manager: Manager) -> Session:
    return session_manager.create("assistant", "http-1")


@pytest.fixture
def agent(server_model: OpenAIChatModel) -> ReActAgent:
    return ReActAgent(
        "assistant", server_model, "You are a test.", tools=["calculator"], model_name="test-model"
    )


def test_plain_answer(openai_server: OpenAIServer, agent: ReActAgent, session: Session) -> None:
    openai_server.enqueue("Hello!")
    result = run(agent, session, "Hi")
    assert (result.answer, result.steps, result.usage) == ("Hello!", 1, Usage(11, 7, 18))
    assert stored(session) == [
        ("message", {"role": "user", "content": "Hi"}),
        ("message", {"role": "assistant", "content": "Hello!"}),
        ("usage", {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18, "requests": 1,
                   "estimated_prompt_tokens": ANY}),
    ]
    body = openai_server.chat_requests[0]
    assert body["messages"] == [
        {"role": "system", "content": "You are a test."},
        {"role": "user", "content": "Hi"},
    ]
    assert [t["function"]["name"] for t in body["tools"]] == ["calculator"]


def test_multi_step_tool_use(openai_server: OpenAIServer, agent: ReActAgent, session: Session) -> None:
    openai_server.enqueue(
        tool_calls(call("calculator", {"expression": "6*7"}, id="call_1")),
        tool_calls(call("calculator", {"expression": "42 + 1"}, id="call_2"), content="One more."),
        text("The answer is 43.", usage=None),
    )
    result = run(agent, session, "What is 6*7+1?")
    assert (result.answer, result.steps, result.tool_calls) == ("The answer is 43.", 3, 2)
    assert [kind for kind, _ in stored(session)] == [
        "message", "tool_call", "tool_result", "tool_call", "tool_result", "message", "usage",
    ]  # fmt: skip
    entries = stored(session)
    assert entries[1][1]["content"] is None
    assert entries[2][1] == {"role": "tool", "tool_call_id": "call_1", "content": "42"}
    assert entries[3][1]["content"] == "One more."
    assert entries[4][1] == {"role": "tool", "tool_call_id": "call_2", "content": "43"}
    assert entries[6][1] == {
        "prompt_tokens": 22, "completion_tokens": 14, "total_tokens": 36, "requests": 3, "unreported_requests": 1,
        "estimated_prompt_tokens": ANY,
    }  # fmt: skip
    last = openai_server.chat_requests[2]["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert last[2]["tool_calls"][0]["function"] == {
        "name": "calculator",
        "arguments": '{"expression": "6*7"}',
    }


def test_malformed_tool_arguments(openai_server: OpenAIServer, agent: ReActAgent, session: Session) -> None:
    openai_server.enqueue(
        tool_calls(call("calculator", '{"expression": 6*7', id="call_bad")),
        tool_calls(call("calculator", {"expression": "6*7"}, id="call_ok")),
        "42",
    )
    assert run(agent, session, "6*7?").answer == "42"
    entries = stored(session)
    assert entries[2][1]["tool_call_id"] == "call_bad"
    assert entries[2][1]["content"].startswith("Error: the arguments are not valid JSON")
    assert entries[4][1]["content"] == "42"
    resent = openai_server.chat_requests[1]["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(resent) == {"_invalid_arguments": '{"expression": 6*7'}


def test_429_with_retry_after(
    openai_server: OpenAIServer, agent: ReActAgent, session: Session, sleeps: RecordingSleep
) -> None:
    openai_server.enqueue(error(429, "Rate limit reached", {"Retry-After": "2"}), "after the wait")
    result = run(agent, session, "hi")
    assert result.answer == "after the wait"
    assert sleeps.waits == [2.0]
    assert len(openai_server.chat_requests) == 2
    assert [kind for kind, _ in stored(session)] == ["message", "message", "usage"]
    assert stored(session)[2][1]["requests"] == 1  # one step, however many attempts


def test_500_then_success_mid_turn(
    openai_server: OpenAIServer, agent: ReActAgent, session: Session, sleeps: RecordingSleep
) -> None:
    openai_server.enqueue(tool_calls(call("calculator", {"expression": "1+1"}, id="c")), error(500), "2")
    assert run(agent, session, "1+1?").answer == "2"
    assert len(sleeps.waits) == 1
    assert [kind for kind, _ in stored(session)] == [
        "message",
        "tool_call",
        "tool_result",
        "message",
        "usage",
    ]
    assert (
        openai_server.chat_requests[1] == openai_server.chat_requests[2]
    )  # the retry resent the same request


def test_slow_reply_hits_timeout(
    openai_server: OpenAIServer, session: Session, sleeps: RecordingSleep
) -> None:
    model = OpenAIChatModel(
        "test-model",
        base_url=openai_server.base_url,
        timeout=0.2,
        retry_policy=RetryPolicy(max_retries=1, sleep=sleeps),
    )
    agent = ReActAgent("assistant", model, tools=["calculator"])
    openai_server.enqueue(text("late", delay=3), text("late", delay=3))
    with pytest.raises(LLMUnavailableError) as info:
        run(agent, session, "are you there?")
    assert info.value.attempts == 2
    kinds = [kind for kind, _ in stored(session)]
    assert kinds == ["message", "error", "usage"]
    failure = stored(session)[1][1]
    assert failure["error"] == "LLMUnavailableError" and "timed out" in failure["message"]
    assert stored(session)[2][1] == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "requests": 1,
    }
    assert failure["turn_from_seq"] == 1  # the failed turn is marked, so it is not sent again
    # The next turn works; the unanswered question stays stored but is not resent (it could be
    # what made the turn fail: a message too long, a request the server chokes on).
    openai_server.enqueue("yes")
    assert run(agent, session, "hello?").answer == "yes"
    sent = openai_server.chat_requests[-1]["messages"]
    assert [m["content"] for m in sent] == ["hello?"]
    assert [e.data.get("content") for e in session.get_entries() if e.type.value == "message"] == [
        "are you there?",
        "hello?",
        "yes",
    ]


def test_401_fails_fast(openai_server: OpenAIServer, agent: ReActAgent, session: Session) -> None:
    openai_server.enqueue(error(401, "Incorrect API key provided"))
    with pytest.raises(LLMRequestError) as info:
        run(agent, session, "hi")
    assert info.value.status_code == 401 and "OPENAI_API_KEY" in str(info.value)
    assert len(openai_server.chat_requests) == 1
    assert [kind for kind, _ in stored(session)] == ["message", "error", "usage"]
    assert stored(session)[1][1]["error"] == "LLMRequestError"


def test_truncated_reply(openai_server: OpenAIServer, agent: ReActAgent, session: Session) -> None:
    openai_server.enqueue(text("It depends on", finish_reason="length"))
    result = run(agent, session, "explain")
    assert (result.answer, result.finish_reason) == ("It depends on", "length")
    assert stored(session)[1][1] == {"role": "assistant", "content": "It depends on"}
