"""OpenAIChatModel driven through the real ``openai`` client against a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time
from typing import Any

import pytest

from aixgo.errors import LLMConfigError, LLMRequestError, LLMResponseError, LLMUnavailableError
from aixgo.llm import ModelResponse, ModelSettings, OpenAIChatModel, RetryPolicy, ToolCall, Usage
from aixgo.llm.openai_model import PLACEHOLDER_API_KEY
from tests.support.fixtures import TEST_KEY, LogCapture, RecordingSleep
from tests.support.openai_server import OpenAIServer, Reply, call, error, text, tool_calls

USER = [{"role": "user", "content": "the secret prompt text"}]
CALC = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "math",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
    },
}


def complete(
    chat_model: OpenAIChatModel, tools: list[dict[str, Any]] | None = None, **settings: Any
) -> ModelResponse:
    return asyncio.run(chat_model.complete(USER, tools or [], ModelSettings(**settings)))


def test_plain_answer(
    openai_server: OpenAIServer, server_model: OpenAIChatModel, aixgo_logs: LogCapture
) -> None:
    openai_server.enqueue("Hello there.")
    response = complete(server_model, temperature=0.2, max_tokens=50)
    assert response.content == "Hello there."
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.usage == Usage(11, 7, 18)
    assert response.model == "test-model"
    (request,) = openai_server.requests
    assert request.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert request.body["model"] == "test-model"
    assert request.body["messages"] == USER
    assert request.body["temperature"] == 0.2
    assert request.body["max_tokens"] == 50
    assert "tools" not in request.body
    (event,) = aixgo_logs.named("llm.complete")
    assert (event["model"], event["messages"], event["total_tokens"]) == ("test-model", 1, 18)
    assert not any("secret prompt" in t or "Hello there" in t or TEST_KEY in t for t in aixgo_logs.texts)


def test_settings_model_overrides_default_and_stop_is_sent(
    openai_server: OpenAIServer, server_model: OpenAIChatModel
) -> None:
    openai_server.enqueue("ok")
    complete(server_model, model="other-model", stop=("\nObservation:",))
    body = openai_server.chat_requests[0]
    assert body["model"] == "other-model"
    assert body["stop"] == ["\nObservation:"]


def test_every_setting_and_extra_body_reach_the_server(
    openai_server: OpenAIServer, server_model: OpenAIChatModel
) -> None:
    # the body is posted as plain JSON (not through the SDK's typed create()): nothing may be lost
    openai_server.enqueue("ok")
    complete(server_model, temperature=0.0, top_p=0.5, seed=7, max_tokens=9,
             extra_body={"repetition_penalty": 1.1, "chat_template_kwargs": {"enable_thinking": False}})
    body = openai_server.chat_requests[0]
    assert (body["temperature"], body["top_p"], body["seed"], body["max_tokens"]) == (0.0, 0.5, 7, 9)
    assert body["repetition_penalty"] == 1.1 and body["chat_template_kwargs"] == {"enable_thinking": False}
    assert "extra_body" not in body and "timeout" not in body


@pytest.mark.parametrize(
    ("choices", "usage", "expected"),
    [
        ({"0": {"message": {"content": "x"}}}, None, "no choices"),  # an object, not a list
        ([{"message": {"content": [{"type": "text", "text": "parts"}]}}], {"prompt_tokens": "many"}, None),
        ([{"message": {"content": [{"type": "text", "text": "parts"}]}}], {"prompt_tokens": float("inf")}, None),
        (["not a choice"], None, "without a message"),
    ],
)
def test_odd_completion_shapes_are_errors_or_tolerated_never_a_crash(
    openai_server: OpenAIServer, server_model: OpenAIChatModel, choices: Any, usage: Any, expected: str | None
) -> None:
    openai_server.enqueue(Reply(body={"id": "x", "object": "chat.completion", "model": "m", "choices": choices,
                                      "usage": usage}))
    if expected is not None:
        with pytest.raises(LLMResponseError, match=expected):
            complete(server_model)
        return
    response = complete(server_model)
    assert response.content == '[{"type": "text", "text": "parts"}]'
    assert response.usage == Usage(0, 0, 0)


def test_tool_calls_with_null_content(openai_server: OpenAIServer, server_model: OpenAIChatModel) -> None:
    openai_server.enqueue(
        tool_calls(
            call("calculator", {"expression": "2+2"}, id="call_a"),
            call("calculator", "{bad json", id="call_b"),
        )
    )
    response = complete(server_model, tools=[CALC])
    assert response.content is None
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls == [
        ToolCall("call_a", "calculator", '{"expression": "2+2"}'),
        ToolCall("call_b", "calculator", "{bad json"),  # kept verbatim: the agent reports it
    ]
    assert openai_server.chat_requests[0]["tools"] == [CALC]


def test_missing_usage_and_length_finish(openai_server: OpenAIServer, server_model: OpenAIChatModel) -> None:
    openai_server.enqueue(text("cut off mid-sen", usage=None, finish_reason="length"))
    response = complete(server_model)
    assert response.usage is None
    assert response.finish_reason == "length"
    assert response.content == "cut off mid-sen"


def test_server_quirks_missing_ids_and_object_arguments(
    openai_server: OpenAIServer, server_model: OpenAIChatModel
) -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "type": "function",
                            "function": {"name": "calculator", "arguments": {"expression": "1+1"}},
                        },
                        {"id": "dup", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                        {"id": "dup", "type": "function", "function": {"name": "b", "arguments": "{}"}},
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
    openai_server.enqueue(Reply(body=body))
    response = complete(server_model)
    first, second, third = response.tool_calls
    assert first.id.startswith("call_") and first.arguments == '{"expression": "1+1"}'
    assert second.id == "dup" and third.id != "dup"
    assert response.usage == Usage(3, 2, 5)


def test_429_with_retry_after_seconds_is_honoured(
    openai_server: OpenAIServer, server_model: OpenAIChatModel, sleeps: RecordingSleep, aixgo_logs: LogCapture
) -> None:
    openai_server.enqueue(error(429, "slow down", {"Retry-After": "7"}), "done")
    assert complete(server_model).content == "done"
    assert sleeps.waits == [7.0]
    assert len(openai_server.chat_requests) == 2
    (retry,) = aixgo_logs.named("llm.retry")
    assert retry["status_code"] == 429 and retry["attempt"] == 1 and retry["wait_s"] == 7.0
    assert retry["model"] == "test-model"
    assert not any("secret prompt" in t or TEST_KEY in t for t in aixgo_logs.texts)


def test_retry_after_http_date_and_ms(
    openai_server: OpenAIServer, server_model: OpenAIChatModel, sleeps: RecordingSleep
) -> None:
    before = time.time()
    target = int(before) + 30  # an HTTP date has whole seconds
    when = email.utils.formatdate(target, usegmt=True)
    openai_server.enqueue(
        error(503, headers={"Retry-After": when}), error(429, headers={"retry-after-ms": "250"}), "ok"
    )
    assert complete(server_model).content == "ok"
    after = time.time()
    # the wait is the date minus the moment the client read it, which lies between before and after
    assert target - after - 1e-3 <= sleeps.waits[0] <= target - before + 1e-3
    assert sleeps.waits[1] == 0.25


def test_retry_after_is_capped(openai_server: OpenAIServer, sleeps: RecordingSleep) -> None:
    policy = RetryPolicy(max_retries=1, max_retry_after=3.0, sleep=sleeps)
    model = OpenAIChatModel("m", api_key="k", base_url=openai_server.base_url, retry_policy=policy)
    openai_server.enqueue(error(429, headers={"Retry-After": "3600"}), "ok")
    assert complete(model).content == "ok"
    assert sleeps.waits == [3.0]


def test_real_retry_after_wait_happens(openai_server: OpenAIServer) -> None:
    model = OpenAIChatModel("m", api_key="k", base_url=openai_server.base_url, max_retries=1)
    openai_server.enqueue(error(429, headers={"Retry-After": "0.3"}), "ok")
    started = time.monotonic()
    assert complete(model).content == "ok"
    assert time.monotonic() - started >= 0.3


def test_500_then_success_uses_backoff_with_jitter(
    openai_server: OpenAIServer, server_model: OpenAIChatModel, sleeps: RecordingSleep
) -> None:
    openai_server.enqueue(error(500), error(502), "recovered")
    assert complete(server_model).content == "recovered"
    first, second = sleeps.waits
    assert 0.5 <= first <= 0.75  # initial_backoff + jitter(0.25)
    assert 1.0 <= second <= 1.25  # doubled


def test_5xx_exhausts_retries(openai_server: OpenAIServer, server_model: OpenAIChatModel) -> None:
    openai_server.enqueue(error(500), error(500), error(503))
    with pytest.raises(LLMUnavailableError) as info:
        complete(server_model)
    assert info.value.attempts == 3
    assert info.value.status_code == 503
    assert openai_server.base_url in str(info.value)
    assert len(openai_server.chat_requests) == 3


def test_slow_reply_hits_timeout(openai_server: OpenAIServer, sleeps: RecordingSleep) -> None:
    policy = RetryPolicy(max_retries=1, sleep=sleeps)
    model = OpenAIChatModel(
        "m", api_key="k", base_url=openai_server.base_url, timeout=0.2, retry_policy=policy
    )
    answer = threading.Event()  # the server answers only once the client has given up (twice)
    openai_server.enqueue(text("too late", hold=answer), text("too late again", hold=answer))
    try:
        with pytest.raises(LLMUnavailableError) as info:
            complete(model)
    finally:
        answer.set()
    assert openai_server.holds_timed_out == 0
    assert info.value.attempts == 2
    assert info.value.status_code is None
    assert "timed out" in str(info.value)


def test_per_request_timeout_setting(openai_server: OpenAIServer) -> None:
    model = OpenAIChatModel("m", api_key="k", base_url=openai_server.base_url, timeout=30, max_retries=0)
    openai_server.enqueue(text("slow", delay=3))
    with pytest.raises(LLMUnavailableError):
        complete(model, timeout=0.2)


def test_connection_refused_is_retried_then_unavailable(sleeps: RecordingSleep) -> None:
    with OpenAIServer() as server:
        url = server.base_url
    model = OpenAIChatModel(
        "m", api_key="k", base_url=url, retry_policy=RetryPolicy(max_retries=1, sleep=sleeps)
    )
    with pytest.raises(LLMUnavailableError) as info:
        complete(model)
    assert info.value.attempts == 2
    assert "connection error" in str(info.value)


def test_401_fails_at_once_with_a_fix(openai_server: OpenAIServer, server_model: OpenAIChatModel) -> None:
    openai_server.enqueue(error(401, "Incorrect API key provided"), "never sent")
    with pytest.raises(LLMRequestError) as info:
        complete(server_model)
    assert info.value.status_code == 401
    assert "OPENAI_API_KEY" in str(info.value) and "Incorrect API key provided" in str(info.value)
    assert TEST_KEY not in str(info.value)
    assert len(openai_server.chat_requests) == 1


@pytest.mark.parametrize(
    ("status", "hint"),
    [(400, "tool schemas"), (403, "access"), (404, "base URL ends in /v1"), (422, "HTTP 422")],
)
def test_client_errors_are_not_retried(
    openai_server: OpenAIServer, server_model: OpenAIChatModel, status: int, hint: str
) -> None:
    openai_server.enqueue(error(status, "nope"))
    with pytest.raises(LLMRequestError) as info:
        complete(server_model)
    assert info.value.status_code == status
    assert hint in str(info.value)
    assert len(openai_server.chat_requests) == 1


def test_non_json_success_body_is_a_response_error(
    openai_server: OpenAIServer, server_model: OpenAIChatModel
) -> None:
    openai_server.enqueue(Reply(body="<html>proxy login</html>"))
    with pytest.raises(LLMResponseError, match="OpenAI-compatible"):
        complete(server_model)


@pytest.mark.parametrize("body", ['{"choices": [', "", "null"])
def test_broken_json_success_body_is_a_response_error(
    openai_server: OpenAIServer, server_model: OpenAIChatModel, body: str
) -> None:
    openai_server.enqueue(Reply(body=body, headers={"Content-Type": "application/json"}))
    with pytest.raises(LLMResponseError, match=r"not a chat completion|did not answer"):
        complete(server_model)


def test_broken_json_in_a_stream_is_a_response_error(
    openai_server: OpenAIServer, server_model: OpenAIChatModel
) -> None:
    openai_server.enqueue(Reply(body='data: {"choices": [\n\n', headers={"Content-Type": "text/event-stream"}))

    async def read() -> list[object]:
        return [item async for item in server_model.stream(USER, [], ModelSettings())]

    with pytest.raises(LLMResponseError, match="JSON is broken"):
        asyncio.run(read())


def test_an_empty_stream_without_tools_is_an_error_and_is_not_asked_again(
    openai_server: OpenAIServer, server_model: OpenAIChatModel
) -> None:
    """Only a request with tools is asked again without streaming (a server that cannot stream with
    tools); an empty stream otherwise is the server's fault, reported as such."""
    openai_server.enqueue(Reply(body="data: [DONE]\n\n", headers={"Content-Type": "text/event-stream"}), "unused")

    async def read() -> list[object]:
        return [item async for item in server_model.stream(USER, [], ModelSettings())]

    with pytest.raises(LLMResponseError, match="without sending anything"):
        asyncio.run(read())
    assert len(openai_server.chat_requests) == 1


def test_a_failed_whole_answer_after_an_empty_stream_is_not_remembered(
    openai_server: OpenAIServer, server_model: OpenAIChatModel
) -> None:
    """The server is marked as one that cannot stream with tools only once the request without
    streaming has worked."""
    empty = Reply(body="data: [DONE]\n\n", headers={"Content-Type": "text/event-stream"})
    openai_server.enqueue(empty, error(400, "bad tool schema"), "streamed")
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]

    async def read() -> list[object]:
        return [item async for item in server_model.stream(USER, tools, ModelSettings())]

    with pytest.raises(LLMRequestError, match="bad tool schema"):
        asyncio.run(read())
    assert next(item for item in asyncio.run(read()) if isinstance(item, ModelResponse)).content == "streamed"
    assert [bool(body.get("stream")) for body in openai_server.chat_requests] == [True, False, True]


def test_no_choices_is_a_response_error(openai_server: OpenAIServer, server_model: OpenAIChatModel) -> None:
    openai_server.enqueue(
        Reply(body={"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []})
    )
    with pytest.raises(LLMResponseError, match="no choices"):
        complete(server_model)


def test_works_across_event_loops(openai_server: OpenAIServer, server_model: OpenAIChatModel) -> None:
    openai_server.enqueue("one", "two")
    assert complete(server_model).content == "one"
    assert complete(server_model).content == "two"  # a new asyncio.run: a new loop
    openai_server.enqueue("three")
    assert complete(server_model).content == "three"
    assert len(server_model._clients) == 1  # clients of closed loops are released


def test_one_loop_reuses_one_client(openai_server: OpenAIServer, server_model: OpenAIChatModel) -> None:
    openai_server.enqueue("one", "two")

    async def run() -> None:
        await server_model.complete(USER, [], ModelSettings())
        first = server_model._client()
        await server_model.complete(USER, [], ModelSettings())
        assert server_model._client() is first

    asyncio.run(run())


def test_aclose(openai_server: OpenAIServer, server_model: OpenAIChatModel) -> None:
    openai_server.enqueue("one")

    async def run() -> None:
        await server_model.complete(USER, [], ModelSettings())
        client = server_model._client()
        await server_model.aclose()
        assert client.is_closed()
        assert server_model._clients == {}

    asyncio.run(run())


# -- configuration -----------------------------------------------------------------------------


def test_missing_key_and_url_names_both_variables() -> None:
    with pytest.raises(LLMConfigError) as info:
        OpenAIChatModel("m")
    assert "OPENAI_API_KEY" in str(info.value) and "OPENAI_BASE_URL" in str(info.value)


def test_base_url_without_key_uses_placeholder(openai_server: OpenAIServer) -> None:
    model = OpenAIChatModel("m", base_url=openai_server.base_url)
    openai_server.enqueue("local")
    assert complete(model).content == "local"
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {PLACEHOLDER_API_KEY}"


def test_environment_variables_are_used(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    model = OpenAIChatModel("m")
    assert model.base_url == openai_server.base_url
    openai_server.enqueue("env")
    assert complete(model).content == "env"
    assert openai_server.requests[0].headers["authorization"] == "Bearer sk-from-env"


def test_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    model = OpenAIChatModel("m", api_key="k", base_url="http://127.0.0.1:2/v1")
    assert model.base_url == "http://127.0.0.1:2/v1"


def test_key_alone_targets_openai() -> None:
    assert OpenAIChatModel("m", api_key="k").base_url == "https://api.openai.com/v1"


def test_credentials_in_url_are_redacted() -> None:
    model = OpenAIChatModel("m", base_url="https://user:hunter2@gateway.example:8443/v1")
    assert model.where == "https://gateway.example:8443/v1"
    assert "hunter2" not in repr(model)


@pytest.mark.parametrize("url", ["localhost:8080/v1", "ftp://x/v1"])
def test_bad_base_url(url: str) -> None:
    with pytest.raises(LLMConfigError, match="http"):
        OpenAIChatModel("m", base_url=url)


def test_bad_timeout() -> None:
    with pytest.raises(LLMConfigError, match="timeout"):
        OpenAIChatModel("m", api_key="k", timeout=0)


def test_missing_model_name(openai_server: OpenAIServer) -> None:
    model = OpenAIChatModel(base_url=openai_server.base_url)
    with pytest.raises(LLMConfigError, match="model"):
        complete(model)
    assert openai_server.requests == []


def test_server_lists_models(openai_server: OpenAIServer) -> None:
    import openai

    async def run() -> list[str]:
        client = openai.AsyncOpenAI(api_key="k", base_url=openai_server.base_url, max_retries=0)
        try:
            return [m.id async for m in client.models.list()]
        finally:
            await client.close()

    assert asyncio.run(run()) == ["test-model"]
