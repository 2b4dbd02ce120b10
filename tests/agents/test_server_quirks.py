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


def test_on_the_last_step_the_tools_are_withheld_and_an_answer_is_asked_for(
    llama: OpenAIServer, fast_retries: RetryPolicy, session: Session
) -> None:
    """A model that keeps calling tools ended every turn in MaxStepsExceededError (defect 5)."""
    model = OpenAIChatModel("test-model", base_url=llama.base_url, api_key="sk-test", retry_policy=fast_retries)
    agent = ReActAgent("assistant", model, "You are a test.", tools=["calculator"], max_steps=2, model_name="m")
    llama.enqueue(tool_calls(call("calculator", {"expression": "1+1"})), "It is 2.")
    result = asyncio.run(agent.run_turn(session, "What is 1+1?"))
    assert (result.answer, result.steps, result.tool_calls) == ("It is 2.", 2, 1)
    last = llama.chat_requests[-1]
    assert last["tool_choice"] == "none"
    assert "answer" in last["messages"][-1]["content"].lower()
    usage = [e.data for e in session.get_entries() if e.type.value == "usage"][-1]
    assert usage["on_max_steps"] == "answer"


def test_on_max_steps_error_keeps_the_old_behaviour(
    llama: OpenAIServer, fast_retries: RetryPolicy, session: Session
) -> None:
    from aixgo.errors import MaxStepsExceededError

    model = OpenAIChatModel("test-model", base_url=llama.base_url, api_key="sk-test", retry_policy=fast_retries)
    agent = ReActAgent(
        "assistant", model, "", tools=["calculator"], max_steps=1, model_name="m", on_max_steps="error"
    )
    llama.enqueue(tool_calls(call("calculator", {"expression": "1+1"})))
    with pytest.raises(MaxStepsExceededError):
        asyncio.run(agent.run_turn(session, "What is 1+1?"))
    assert llama.chat_requests[-1]["tool_choice"] == "auto"


def test_on_max_steps_from_yaml(tmp_path: object) -> None:
    from pathlib import Path

    from aixgo.agents import agent_from_config
    from aixgo.config import load_config
    from aixgo.testing import ScriptedModel

    path = Path(str(tmp_path)) / "agents.yaml"
    path.write_text("agents:\n  - {name: a, model: m, on_max_steps: error}\n  - {name: b, model: m}\n")
    config = load_config(path)
    agents = [agent_from_config(c, model=ScriptedModel()) for c in config.agents]
    assert [a.on_max_steps for a in agents] == ["error", "answer"]
    path.write_text("agents:\n  - {name: a, model: m, on_max_steps: sometimes}\n")
    with pytest.raises(Exception, match="on_max_steps"):
        load_config(path)


def test_request_knobs_from_yaml_reach_the_server(openai_server: OpenAIServer, tmp_path: object) -> None:
    """``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``, ``tool_choice`` and ``extra_body``
    are set per agent in YAML (defect 4: max_tokens existed only in the Python constructor)."""
    from pathlib import Path

    from aixgo.runtime import Runtime

    config = Path(str(tmp_path)) / "knobs.yaml"
    config.write_text(
        f"""
session: {{base_dir: {Path(str(tmp_path)) / "store"}}}
llm: {{base_url: {openai_server.base_url}, api_key: sk-test}}
agents:
  - name: a
    model: test-model
    tools: [calculator]
    max_tokens: 64
    temperature: 0.2
    top_p: 0.9
    stop: ["###"]
    seed: 7
    tool_choice: {{name: calculator}}
    extra_body: {{repetition_penalty: 1.1}}
"""
    )
    openai_server.enqueue("ok")
    with Runtime.from_config(config) as runtime:
        assert runtime.call_with_session("a", "hi", "s1").answer == "ok"
    body = openai_server.chat_requests[-1]
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["stop"], body["seed"]) == (
        64, 0.2, 0.9, ["###"], 7
    )
    assert body["tool_choice"] == {"type": "function", "function": {"name": "calculator"}}
    assert body["repetition_penalty"] == 1.1


def test_a_cancelled_turn_stores_the_usage_it_had_spent(session: Session) -> None:
    """The first version stored no usage for a cancelled turn although earlier steps used tokens (defect 6)."""
    from aixgo.llm import ModelResponse, ToolCall, Usage

    second_step = asyncio.Event()

    class SlowSecondStep:
        calls = 0

        async def complete(self, messages: object, tools: object, settings: object) -> ModelResponse:
            self.calls += 1
            if self.calls == 2:
                second_step.set()
            if self.calls == 1:
                return ModelResponse(
                    content=None,
                    tool_calls=[ToolCall("c1", "calculator", '{"expression": "1+1"}')],
                    usage=Usage(40, 10, 50),
                    finish_reason="tool_calls",
                )
            await asyncio.sleep(60)
            raise AssertionError("not reached")

    agent = ReActAgent("assistant", SlowSecondStep(), "", tools=["calculator"], model_name="m")

    async def main() -> None:
        task = asyncio.create_task(agent.run_turn(session, "What is 1+1?"))
        await asyncio.wait_for(second_step.wait(), timeout=60)  # the first step's usage is recorded by now
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    kinds = [e.type.value for e in session.get_entries()]
    usage = [e.data for e in session.get_entries() if e.type.value == "usage"]
    assert usage and usage[-1]["total_tokens"] == 50 and usage[-1]["requests"] == 2
    assert "error" in kinds  # the cancellation is recorded too
