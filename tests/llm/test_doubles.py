"""ScriptedModel and FunctionModel: the offline doubles users test their agents with."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aixgo.errors import LLMUnavailableError
from aixgo.llm import ChatModel, ModelResponse, ModelSettings, ToolCall, Usage
from aixgo.testing import FunctionModel, ScriptedModel, ScriptExhaustedError, as_response, tool_call

HI = [{"role": "user", "content": "hi"}]
SETTINGS = ModelSettings(model="m", temperature=0.1)


def ask(
    model: ChatModel, messages: list[dict[str, Any]] = HI, tools: list[dict[str, Any]] | None = None
) -> ModelResponse:
    return asyncio.run(model.complete(messages, tools or [], SETTINGS))


def test_scripted_replies_in_order_and_records_requests() -> None:
    call = tool_call("calculator", {"expression": "1+1"}, id="c1")
    response = ModelResponse("partial", [call], "tool_calls", Usage(1, 2, 3))
    model = ScriptedModel(["text", call, [call, call], response])
    tools = [{"type": "function", "function": {"name": "calculator"}}]
    first = ask(model, tools=tools)
    assert (first.content, first.tool_calls, first.finish_reason) == ("text", [], "stop")
    second = ask(model)
    assert second.content is None and second.tool_calls == [call] and second.finish_reason == "tool_calls"
    assert ask(model).tool_calls == [call, call]
    assert ask(model) is response
    assert model.remaining == 0
    assert len(model.requests) == 4
    assert model.requests[0].tool_names == ["calculator"]
    assert model.requests[0].last_message == {"role": "user", "content": "hi"}
    assert model.requests[0].settings is SETTINGS


def test_recorded_requests_are_copies() -> None:
    model = ScriptedModel(["a"])
    messages = [{"role": "user", "content": "before"}]
    asyncio.run(model.complete(messages, [], SETTINGS))
    messages[0]["content"] = "after"
    assert model.requests[0].messages[0]["content"] == "before"


def test_script_exhausted_is_a_clear_error() -> None:
    model = ScriptedModel(["only"])
    ask(model)
    with pytest.raises(ScriptExhaustedError, match=r"no reply left for request #2 \(it was given 1\)"):
        ask(model)
    model.add("more")
    assert ask(model).content == "more"


def test_scripted_exception_is_raised() -> None:
    model = ScriptedModel([LLMUnavailableError("down", status_code=503, attempts=3), "after"])
    with pytest.raises(LLMUnavailableError):
        ask(model)
    assert ask(model).content == "after"


def test_tool_call_helper() -> None:
    assert tool_call("x", '{"bad').arguments == '{"bad'
    assert tool_call("x").arguments == "{}"
    a, b = tool_call("x"), tool_call("x")
    assert a.id != b.id and a.id.startswith("call_x_")
    assert tool_call("x", {"n": 1}, id="i") == ToolCall("i", "x", '{"n": 1}')


def test_as_response_rejects_junk() -> None:
    with pytest.raises(TypeError):
        as_response([1, 2])  # type: ignore[list-item]


def test_function_model_sync_and_async() -> None:
    def echo(messages: list[dict[str, Any]], tools: list[dict[str, Any]], settings: ModelSettings) -> str:
        messages.clear()  # mutating its copy must not affect the record
        return f"{settings.model}:{len(tools)}"

    model = FunctionModel(echo)
    assert ask(model).content == "m:0"
    assert model.requests[0].messages == HI

    async def decide(
        messages: list[dict[str, Any]], tools: list[dict[str, Any]], settings: ModelSettings
    ) -> ToolCall:
        await asyncio.sleep(0)
        return tool_call("calc", {"q": messages[-1]["content"]}, id="z")

    assert ask(FunctionModel(decide)).tool_calls == [ToolCall("z", "calc", '{"q": "hi"}')]


def test_doubles_satisfy_the_protocol() -> None:
    assert isinstance(ScriptedModel(), ChatModel)
    assert isinstance(FunctionModel(lambda m, t, s: "x"), ChatModel)
