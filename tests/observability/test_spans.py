"""The spans and metrics of real turns (the real ``openai`` client against the local test server),
read from the SDK's in-memory exporter and metric reader: their tree, their GenAI attributes, and
what is never recorded unless asked for."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from aixgo.agents import ReActAgent, tool
from aixgo.errors import LLMUnavailableError
from aixgo.llm import OpenAIChatModel, RetryPolicy
from aixgo.runtime import Runtime
from tests.observability.conftest import RuntimeFactory, Traced, make_traced, tree
from tests.support.fixtures import TEST_KEY
from tests.support.openai_server import OpenAIServer, Reply, call, error, tool_calls


def _traceparent_ids(header: str) -> tuple[int, int]:
    _, trace_id, span_id, _ = header.split("-")
    return int(trace_id, 16), int(span_id, 16)


def test_a_plain_turn_is_an_invoke_agent_span_around_one_chat_span(
    traced: Traced, traced_runtime: RuntimeFactory, server_model: OpenAIChatModel, openai_server: OpenAIServer
) -> None:
    openai_server.enqueue(Reply(content="Hello, Ada.", usage={"prompt_tokens": 12, "completion_tokens": 3,
                                                              "total_tokens": 15}))
    runtime = traced_runtime(traced, ReActAgent("assistant", server_model, "Be kind.", temperature=0.2))
    result = runtime.call_with_session("assistant", "I am Ada.", "chat-1", user_id="ada")
    assert result.answer == "Hello, Ada."
    assert tree(traced.spans()) == [(0, "invoke_agent assistant"), (1, "chat test-model")]

    turn, chat = traced.one("invoke_agent"), traced.one("chat")
    assert turn.kind is SpanKind.INTERNAL and chat.kind is SpanKind.CLIENT
    assert dict(turn.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "assistant",
        "gen_ai.conversation.id": "chat-1", "user.id": "ada", "aixgo.turn.outcome": "answered",
        "aixgo.turn.steps": 1, "aixgo.turn.tool_calls": 0,
        "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3,
    }
    attributes = dict(chat.attributes or {})
    assert attributes == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "test-model", "gen_ai.response.model": "test-model",
        "gen_ai.conversation.id": "chat-1", "gen_ai.request.temperature": 0.2,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3,
        "server.address": "127.0.0.1", "server.port": openai_server.port,
    }
    assert chat.status.status_code is StatusCode.UNSET and turn.status.status_code is StatusCode.UNSET
    # the upstream request carries the chat span's context on
    sent = openai_server.requests[-1].headers["traceparent"]
    assert _traceparent_ids(sent) == (chat.context.trace_id, chat.context.span_id)

    usage = {(p.attributes["gen_ai.token.type"], p.sum) for p in traced.points("gen_ai.client.token.usage")}
    assert usage == {("input", 12), ("output", 3)}
    [duration] = traced.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.attributes["gen_ai.request.model"] == "test-model"
    assert duration.attributes["server.address"] == "127.0.0.1" and "gen_ai.conversation.id" not in duration.attributes
    [turns] = traced.points("aixgo.turn.duration")
    assert dict(turns.attributes) == {"gen_ai.agent.name": "assistant", "aixgo.turn.outcome": "answered"}
    operations = {p.attributes["aixgo.store.operation"] for p in traced.points("aixgo.store.operation.duration")}
    assert {"lease", "read", "append"} <= operations
    assert all(p.attributes["aixgo.store.kind"] == "file" for p in traced.points("aixgo.store.operation.duration"))


def lookup_order(order_id: str) -> dict[str, str]:
    """Find an order.

    Args:
        order_id: The order number.
    """
    if order_id == "missing":
        raise KeyError(order_id)
    return {"order": order_id, "status": "shipped"}


def test_a_tool_turn_has_one_execute_tool_span_per_call_with_its_source_and_failure(
    traced: Traced, traced_runtime: RuntimeFactory, server_model: OpenAIChatModel, openai_server: OpenAIServer
) -> None:
    openai_server.enqueue(
        tool_calls(call("lookup_order", {"order_id": "A-1"}, id="call_1"),
                   call("calculator", {"expression": "6*7"}, id="call_2")),
        tool_calls(call("lookup_order", {"order_id": "missing"}, id="call_3")),
        Reply(content="A-1 shipped; 42; the other order is missing."),
    )
    runtime = traced_runtime(traced, ReActAgent("shop", server_model, tools=[tool(lookup_order), "calculator"]))
    assert runtime.call_with_session("shop", "status?", "t-1").tool_calls == 3
    assert tree(traced.spans()) == [
        (0, "invoke_agent shop"),
        (1, "chat test-model"),
        (1, "execute_tool lookup_order"),
        (1, "execute_tool calculator"),
        (1, "chat test-model"),
        (1, "execute_tool lookup_order"),
        (1, "chat test-model"),
    ]
    first, calculator, failed = traced.named("execute_tool")
    assert dict(first.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order", "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": "call_1", "aixgo.tool.source": "python",
    }
    assert (calculator.attributes or {})["aixgo.tool.source"] == "built-in"
    assert first.status.status_code is StatusCode.UNSET
    assert failed.status.status_code is StatusCode.ERROR and (failed.attributes or {})["error.type"] == "tool_error"
    turn = traced.one("invoke_agent")
    assert (turn.attributes or {})["aixgo.turn.steps"] == 3 and (turn.attributes or {})["aixgo.turn.tool_calls"] == 3
    errors = {p.attributes["gen_ai.tool.name"]: p.attributes.get("error.type")
              for p in traced.points("aixgo.tool.duration") if p.attributes.get("error.type")}
    assert errors == {"lookup_order": "tool_error"}
    finishes = [(span.attributes or {})["gen_ai.response.finish_reasons"] for span in traced.named("chat")]
    assert finishes == [("tool_calls",), ("tool_calls",), ("stop",)]


def test_a_failed_model_call_shows_its_retries_as_events_and_fails_the_turn(
    traced: Traced, traced_runtime: RuntimeFactory, openai_server: OpenAIServer
) -> None:
    async def no_wait(seconds: float) -> None:
        return None

    model = OpenAIChatModel("test-model", api_key=TEST_KEY, base_url=openai_server.base_url,
                            retry_policy=RetryPolicy(max_retries=2, sleep=no_wait))
    openai_server.enqueue(error(503), error(429, headers={"Retry-After": "0"}), error(500))
    runtime = traced_runtime(traced, ReActAgent("bot", model))
    with pytest.raises(LLMUnavailableError):
        runtime.call_with_session("bot", "hi", "f-1")
    chat, turn = traced.one("chat"), traced.one("invoke_agent")
    retries = [dict(event.attributes or {}) for event in chat.events if event.name == "gen_ai.client.retry"]
    assert [(r["aixgo.retry.attempt"], r["http.response.status_code"]) for r in retries] == [(1, 503), (2, 429)]
    assert chat.status.status_code is StatusCode.ERROR and chat.status.description == "LLMUnavailableError"
    assert (chat.attributes or {})["error.type"] == "LLMUnavailableError"
    assert (chat.attributes or {})["http.response.status_code"] == 500
    assert turn.status.status_code is StatusCode.ERROR and (turn.attributes or {})["aixgo.turn.outcome"] == "failed"
    [duration] = traced.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "LLMUnavailableError"
    # each attempt carried the same trace on
    parents = {r.headers["traceparent"] for r in openai_server.requests}
    assert len(openai_server.requests) == 3 and len(parents) == 1


def test_a_refused_request_is_an_event_and_an_error_of_its_chat_span(
    traced: Traced, traced_runtime: RuntimeFactory, server_model: OpenAIChatModel, openai_server: OpenAIServer
) -> None:
    openai_server.enqueue(error(401, "Incorrect API key provided: sk-test-0123456789abcdef"))
    runtime = traced_runtime(traced, ReActAgent("bot", server_model))
    with pytest.raises(Exception, match="401"):
        runtime.call_with_session("bot", "hi", "r-1")
    chat = traced.one("chat")
    [refusal] = [event for event in chat.events if event.name == "gen_ai.client.refusal"]
    assert dict(refusal.attributes or {}) == {"error.type": "LLMRequestError", "http.response.status_code": 401}
    assert TEST_KEY not in _everything(traced)


def test_compaction_is_a_child_span_of_the_turn_with_what_it_folded(
    traced: Traced, traced_runtime: RuntimeFactory, openai_server: OpenAIServer, server_model: OpenAIChatModel
) -> None:
    from aixgo.agents import ContextSettings

    def answer(body: dict[str, Any]) -> str:
        return "summary of what came before" if "memory" in body["messages"][0]["content"] else "ok"

    openai_server.responder = answer
    agent = ReActAgent("bot", server_model, context=ContextSettings(window=400, reserve=50))
    runtime = traced_runtime(traced, agent)
    for number in range(12):
        runtime.call_with_session("bot", f"question {number} " + "lorem ipsum dolor " * 20, "c-1")
    compactions = traced.named("compact_context")
    assert compactions, [span.name for span in traced.spans()]
    compaction = compactions[0]
    turn = next(span for span in traced.named("invoke_agent")
                if span.context.span_id == compaction.parent.span_id)  # type: ignore[union-attr]
    assert (turn.attributes or {})["gen_ai.conversation.id"] == "c-1"
    attributes = compaction.attributes or {}
    assert attributes["aixgo.compaction.folded_turns"] >= 1 and attributes["aixgo.compaction.requests"] >= 1
    assert attributes["gen_ai.usage.input_tokens"] > 0
    # the summary request went out inside the compaction span, carrying it on
    summary_request = next(r for r in openai_server.requests if "memory" in r.body["messages"][0]["content"])
    assert _traceparent_ids(summary_request.headers["traceparent"]) == (
        compaction.context.trace_id, compaction.context.span_id)


def test_a_cancelled_stream_ends_the_turn_span_as_cancelled(
    traced: Traced, traced_runtime: RuntimeFactory, server_model: OpenAIChatModel, openai_server: OpenAIServer
) -> None:
    openai_server.enqueue(Reply(content="one two three four five six", chunk_delay=0.5))
    runtime = traced_runtime(traced, ReActAgent("bot", server_model))

    async def leave_after_first_words() -> None:
        events = runtime.astream_with_session("bot", "count", "s-1")
        async for event in events:
            if event.type == "text_delta":
                break
        await events.aclose()

    asyncio.run(leave_after_first_words())
    turn, chat = traced.one("invoke_agent"), traced.one("chat")
    assert (turn.attributes or {})["aixgo.turn.outcome"] == "cancelled"
    assert turn.status.status_code is StatusCode.ERROR and chat.status.description == "CancelledError"
    assert (chat.attributes or {})["gen_ai.response.time_to_first_chunk"] > 0


def _everything(traced: Traced) -> str:
    return json.dumps([{"name": s.name, "attributes": dict(s.attributes or {}),
                        "events": [dict(e.attributes or {}) for e in s.events],
                        "status": s.status.description} for s in traced.spans()], default=str)


def test_message_content_is_recorded_only_when_asked_for_and_keys_never(
    traced_runtime: RuntimeFactory, server_model: OpenAIChatModel, openai_server: OpenAIServer
) -> None:
    secret = "sk-proj-abcdefghijklmnop1234"
    prompt = f"my key is {secret}, remember the word pineapple"
    for capture in (False, True):
        traced = make_traced(capture_content=capture)
        openai_server.enqueue(tool_calls(call("calculator", {"expression": "2+2"}, id="c1")),
                              Reply(content="pineapple noted"))
        runtime = traced_runtime(traced, ReActAgent("bot", server_model, "You are terse.", tools=["calculator"]))
        runtime.call_with_session("bot", prompt, f"content-{capture}")
        everything = _everything(traced)
        assert secret not in everything and TEST_KEY not in everything
        assert ("pineapple" in everything) is capture
        if capture:
            first, second = traced.named("chat")
            messages = json.loads((first.attributes or {})["gen_ai.input.messages"])
            assert messages == [{"role": "user", "parts": [{"type": "text",
                                                              "content": "my key is ***, remember the word pineapple"}]}]
            assert json.loads((first.attributes or {})["gen_ai.system_instructions"]) == [
                {"type": "text", "content": "You are terse."}]
            assert json.loads((second.attributes or {})["gen_ai.output.messages"]) == [
                {"role": "assistant", "parts": [{"type": "text", "content": "pineapple noted"}], "finish_reason": "stop"}]
            calculator = traced.one("execute_tool")
            assert (calculator.attributes or {})["gen_ai.tool.call.arguments"] == '{"expression": "2+2"}'
            assert (calculator.attributes or {})["gen_ai.tool.call.result"] == "4"


def test_log_lines_inside_a_span_carry_its_trace_and_span_ids(
    traced: Traced, traced_runtime: RuntimeFactory, server_model: OpenAIChatModel, openai_server: OpenAIServer,
    aixgo_logs: Any,
) -> None:
    openai_server.enqueue(Reply(content="hi"))
    runtime = traced_runtime(traced, ReActAgent("bot", server_model))
    runtime.call_with_session("bot", "hello", "l-1")
    turn = traced.one("invoke_agent")
    trace_id, span_id = f"{turn.context.trace_id:032x}", f"{turn.context.span_id:016x}"
    started = aixgo_logs.named("agent.turn.start")[0]
    assert (started["trace_id"], started["span_id"]) == (trace_id, span_id)
    step = aixgo_logs.named("agent.step")[0]  # logged inside the turn span, after the chat span ended
    assert step["trace_id"] == trace_id
    appended = [e for e in aixgo_logs.events if e.get("event") == "session.create"]
    assert appended and appended[0]["trace_id"] == trace_id  # logged on the store's I/O pool
    runtime_line = aixgo_logs.named("runtime.turn")[0]
    assert runtime_line["trace_id"] == trace_id


def test_slow_store_operations_are_child_spans_with_the_store_kind(
    traced_runtime: RuntimeFactory, server_model: OpenAIChatModel, openai_server: OpenAIServer
) -> None:
    traced = make_traced(store_span_ms=0)  # every store operation is "slow"
    openai_server.enqueue(Reply(content="ok"))
    runtime = traced_runtime(traced, ReActAgent("bot", server_model), auto_checkpoint=True)
    runtime.call_with_session("bot", "hi", "st-1")
    shape = tree(traced.spans())
    assert shape[0] == (0, "invoke_agent bot")
    children = [name for depth, name in shape if depth == 1]
    assert {"lease file", "read file", "append file", "chat test-model", "checkpoint file"} <= set(children)
    assert children.index("lease file") < children.index("chat test-model") < children.index("checkpoint file")
    checkpoint = traced.one("checkpoint")
    assert dict(checkpoint.attributes or {}) == {
        "aixgo.store.kind": "file", "aixgo.store.operation": "checkpoint", "gen_ai.conversation.id": "st-1"}


def test_a_lease_wait_is_a_span_only_when_it_waited(
    traced_runtime: RuntimeFactory, server_model: OpenAIChatModel, openai_server: OpenAIServer, aixgo_logs: Any
) -> None:
    traced = make_traced()  # no operation is "slow": the wait alone makes the span
    openai_server.enqueue(Reply(content="first"), Reply(content="second"))
    runtime = traced_runtime(traced, ReActAgent("bot", server_model), lease_wait=30)
    runtime.call_with_session("bot", "hi", "w-1")
    assert not traced.named("lease")  # taken at once: measured, no span

    session = runtime.session_manager.get("w-1")
    lease = session.lease(ttl=60, wait=0)

    async def queued_turn() -> None:
        turn = asyncio.ensure_future(runtime.acall_with_session("bot", "again", "w-1"))
        while not aixgo_logs.named("runtime.turn.waiting_for_lease"):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the holder keeps the lease a while: the turn waits at least this long
        lease.release()
        await turn

    asyncio.run(queued_turn())
    [waited] = traced.named("lease")
    second_turn = traced.named("invoke_agent")[1]
    assert waited.parent is not None and waited.parent.span_id == second_turn.context.span_id
    assert (waited.attributes or {}).get("aixgo.store.waited") is True
    assert ((waited.end_time or 0) - (waited.start_time or 0)) >= 50_000_000


def test_a_runtime_without_tracing_is_not_slowed_by_a_span_per_step(tmp_path: Path) -> None:
    """No observers: the turn takes the same steps as before (the runtime adds no observed wrapper)."""
    runtime = Runtime.from_config(_config(tmp_path))
    try:
        assert runtime.observers == () and runtime.telemetry is None
        assert runtime.session_manager.observers == ()
        agent = runtime.agent("bot")
        assert isinstance(agent, ReActAgent) and agent.observers == ()
    finally:
        runtime.close()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "offline.yaml"
    path.write_text(f"session: {{base_dir: {tmp_path / 'store'}, fsync: never}}\n"
                    "llm: {provider: scripted, script: ['ok']}\nagents: [{name: bot, model: m}]\n")
    return path
