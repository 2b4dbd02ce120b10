"""Tools on a llama.cpp-style server (issue "Real OpenAI-compatible servers", defects 1 and 2).

The real ``openai`` client and ReAct agent against the local test server with the ``llama.cpp``
personality: it leaves tools out of the prompt unless ``tool_choice`` is sent, and refuses a
message whose ``content`` is null with a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from aixgo.agents import ReActAgent
from aixgo.llm import OpenAIChatModel, RetryPolicy
from aixgo.session import Manager, Session
from tests.support.openai_server import OpenAIServer, call, tool_calls


@pytest.fixture
def llama() -> Iterator[OpenAIServer]:
    with OpenAIServer(personality="llama.cpp") as server:
        yield server


@pytest.fixture
def agent(llama: OpenAIServer, fast_retries: RetryPolicy) -> ReActAgent:
    model = OpenAIChatModel("test-model", base_url=llama.base_url, api_key="sk-test", retry_policy=fast_retries)
    return ReActAgent("assistant", model, "You are a test.", tools=["calculator"], model_name="test-model")


@pytest.fixture
def session(session_manager: Manager) -> Session:
    return session_manager.create("assistant", "llama-1")


def test_tools_are_offered_with_tool_choice_auto(llama: OpenAIServer, agent: ReActAgent, session: Session) -> None:
    llama.enqueue(tool_calls(call("calculator", {"expression": "17*23"})), "17 * 23 = 391")
    result = asyncio.run(agent.run_turn(session, "What is 17 * 23?"))
    assert result.tool_calls == 1 and result.answer == "17 * 23 = 391"
    assert llama.chat_requests[0]["tool_choice"] == "auto"


def test_a_tool_turn_does_not_break_the_next_turn(llama: OpenAIServer, agent: ReActAgent, session: Session) -> None:
    llama.enqueue(tool_calls(call("calculator", {"expression": "2+2"})), "4", "Hello again")
    asyncio.run(agent.run_turn(session, "What is 2+2?"))
    stored_call = next(e.data for e in session.get_entries() if e.type.value == "tool_call")
    assert stored_call["content"] is None  # the history keeps what the model said
    result = asyncio.run(agent.run_turn(session, "Hi"))
    assert result.answer == "Hello again"
    sent = [m for m in llama.chat_requests[-1]["messages"] if m.get("tool_calls")]
    assert sent and all(m["content"] == "" for m in sent)  # what is sent is what every server accepts
