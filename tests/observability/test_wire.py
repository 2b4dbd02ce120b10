"""Telemetry leaving real processes: ``aixgo run`` configured only by ``OTEL_*`` variables sends its
spans and metrics to an OTLP/HTTP receiver started by the test (protobuf decoded with
``opentelemetry-proto``); ``aixgo serve`` continues a client's ``traceparent`` and carries it on to
the upstream model server, so the spans of three processes form one trace; ``aixgo run --trace``
prints the tree; and with tracing off the OpenTelemetry SDK is never imported."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.serving import Served, no_traceback
from tests.support.openai_server import OpenAIServer, Reply, call, tool_calls
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan, span_tree

ROOT = Path(__file__).resolve().parents[2]
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture
def upstream() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


def write_config(tmp_path: Path, upstream: OpenAIServer, extra: str = "") -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(
        f"session: {{base_dir: {tmp_path / 'store'}, fsync: never}}\n"
        f"llm: {{base_url: '{upstream.base_url}', api_key: sk-upstream-secret-1234, max_retries: 0}}\n"
        "agents:\n  - name: shop\n    model: test-model\n"
        "    tools: [calculator, 'tests.observability.tools:lookup_order']\n" + extra
    )
    return path


def otel_env(receiver: OtlpReceiver, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_SERVICE_NAME="aixgo-under-test",
               PYTHONPATH=str(ROOT), **extra)
    return env


def run_aixgo(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aixgo", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def one_trace(spans: list[ReceivedSpan]) -> str:
    traces = {span.trace_id for span in spans}
    assert len(traces) == 1, span_tree(spans)
    return traces.pop()


def enqueue_tool_turn(upstream: OpenAIServer) -> None:
    upstream.enqueue(
        tool_calls(call("lookup_order", {"order_id": "A-1001"}, id="call_lookup"),
                   call("calculator", {"expression": "19.99*3"}, id="call_calc")),
        Reply(content="Order A-1001 has shipped; three of them cost 59.97."),
    )


def test_aixgo_run_sends_its_spans_and_metrics_to_an_otlp_collector(
    tmp_path: Path, receiver: OtlpReceiver, upstream: OpenAIServer
) -> None:
    enqueue_tool_turn(upstream)
    done = run_aixgo("run", str(write_config(tmp_path, upstream)), "-m", "Where is order A-1001, and 3 cost?",
                     "--session", "wire-1", env=otel_env(receiver))
    assert done.returncode == 0, done.stderr
    assert "59.97" in done.stdout
    receiver.wait_for(lambda r: len([s for s in r.spans if not s.name.endswith(" file")]) == 5
                      and "aixgo.turn.duration" in r.metrics)
    spans = receiver.spans
    print("\n" + span_tree(spans))  # the tree as received (shown with -s)
    trace_id = one_trace(spans)
    shape = [(span.name, span.kind) for span in sorted(spans, key=lambda s: s.start_ns)
             if not span.name.endswith(" file")]
    assert shape == [
        ("invoke_agent shop", "INTERNAL"),
        ("chat test-model", "CLIENT"),
        ("execute_tool lookup_order", "INTERNAL"),
        ("execute_tool calculator", "INTERNAL"),
        ("chat test-model", "CLIENT"),
    ]
    turn = receiver.named("invoke_agent")[0]
    assert turn.parent_span_id == "" and turn.service == "aixgo-under-test"
    assert all(span.parent_span_id == turn.span_id for span in spans if span is not turn)
    assert turn.attributes["gen_ai.conversation.id"] == "wire-1"
    assert turn.attributes["aixgo.turn.tool_calls"] == 2 and turn.attributes["aixgo.turn.outcome"] == "answered"
    lookup = receiver.named("execute_tool lookup_order")[0]
    assert lookup.attributes["aixgo.tool.source"] == "python"
    assert lookup.attributes["gen_ai.tool.call.id"] == "call_lookup"
    chats = receiver.named("chat")
    sent = [request.headers["traceparent"].split("-")[:3] for request in upstream.requests]
    assert sent == [["00", trace_id, chat.span_id] for chat in chats]
    for name in ("gen_ai.client.token.usage", "gen_ai.client.operation.duration", "aixgo.turn.duration",
                 "aixgo.tool.duration", "aixgo.store.operation.duration"):
        assert name in receiver.metrics, sorted(receiver.metrics)
    tokens = receiver.metrics["gen_ai.client.token.usage"]
    assert {point["gen_ai.token.type"] for point in tokens} == {"input", "output"}
    assert {point["gen_ai.agent.name"] for point in tokens} == {"shop"}
    stores = receiver.metrics["aixgo.store.operation.duration"]
    assert {point["aixgo.store.kind"] for point in stores} == {"file"}
    everything = repr(receiver.spans) + repr(receiver.metrics)
    assert "sk-upstream-secret-1234" not in everything and "A-1001" not in everything  # no content by default


def test_aixgo_serve_continues_the_callers_trace_into_the_upstream_request(
    tmp_path: Path, receiver: OtlpReceiver, upstream: OpenAIServer
) -> None:
    enqueue_tool_turn(upstream)
    upstream.enqueue(Reply(content="Streamed answer."))
    env = otel_env(receiver)  # spans are batched for 5 s: those of the turns leave when the server stops
    with Served(write_config(tmp_path, upstream), env=env) as served:
        traceparent = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
        answer = httpx.post(f"{served.url}/v1/chat/completions", timeout=30,
                            headers={"traceparent": traceparent, "X-Session-Id": "served-1"},
                            json={"model": "shop", "messages": [{"role": "user", "content": "order A-1001?"}]})
        assert answer.status_code == 200, answer.text
        with httpx.stream("POST", f"{served.url}/v1/chat/completions", timeout=30,
                          headers={"traceparent": f"00-{CLIENT_TRACE}-{'1' * 16}-01", "X-Session-Id": "served-1"},
                          json={"model": "shop", "stream": True,
                                "messages": [{"role": "user", "content": "and now?"}]}) as streamed:
            assert streamed.status_code == 200
            assert '"content": "Streamed "' in "".join(streamed.iter_text())
        code, output = served.stop()
    assert code in (0, -15) and no_traceback(output)  # uvicorn re-raises SIGTERM once it has shut down
    expected = {"POST": 2, "invoke_agent": 2, "chat": 3, "execute_tool": 2}
    receiver.wait_for(lambda r: all(len([s for s in r.spans if s.name.startswith(prefix)]) == count
                                    for prefix, count in expected.items()))
    spans = receiver.spans
    print("\n" + span_tree(spans))
    assert one_trace(spans) == CLIENT_TRACE
    servers = sorted(receiver.named("POST /v1/chat/completions"), key=lambda s: s.start_ns)
    assert [s.parent_span_id for s in servers] == [CLIENT_SPAN, "1" * 16]
    assert all(s.kind == "SERVER" and s.attributes["http.response.status_code"] == 200 for s in servers)
    by_id = {span.span_id: span for span in spans}
    for chat in receiver.named("chat"):  # chat → invoke_agent → POST, all in the client's trace
        turn = by_id[chat.parent_span_id]
        assert turn.name == "invoke_agent shop" and by_id[turn.parent_span_id] in servers
    # every upstream request carried the trace on, naming the chat span it belongs to
    chats = {chat.span_id for chat in receiver.named("chat")}
    sent = [request.headers["traceparent"].split("-") for request in upstream.requests]
    assert len(sent) == 3 and all(part[1] == CLIENT_TRACE and part[2] in chats for part in sent)


def test_aixgo_run_trace_prints_the_span_tree_without_a_collector(tmp_path: Path, upstream: OpenAIServer) -> None:
    enqueue_tool_turn(upstream)
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env["PYTHONPATH"] = str(ROOT)
    # no store operation is "slow" (a loaded machine makes any of them slow now and then: a span in the tree)
    config = write_config(tmp_path, upstream, "observability: {store_span_ms: 600000}\n")
    done = run_aixgo("run", str(config), "-m", "order?", "--trace", env=env)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    tree = lines[lines.index(next(line for line in lines if line.startswith("invoke_agent shop"))):]
    assert "answered, 2 steps, 2 tool calls" in tree[0]
    assert [line.split("  ")[0] for line in tree[1:5]] == [
        "├─ chat test-model", "├─ execute_tool lookup_order", "├─ execute_tool calculator", "└─ chat test-model"]
    assert "tool_calls" in tree[1] and "stop" in tree[4]
    assert tree[5].startswith("trace ") and len(tree[5].split()[1]) == 32
    assert "59.97" in done.stdout  # the answer still goes to stdout alone


PROBE = """
import sys
from aixgo.cli.app import run_cli
code = run_cli(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
print("SDK" if any(m.startswith("opentelemetry.sdk") for m in loaded) else "no SDK", len(loaded), file=sys.stderr)
sys.exit(code)
"""


def test_with_tracing_off_no_opentelemetry_module_is_imported(tmp_path: Path, upstream: OpenAIServer) -> None:
    upstream.enqueue(Reply(content="plain"), Reply(content="traced"))
    config = str(write_config(tmp_path, upstream))
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env["PYTHONPATH"] = str(ROOT)
    off = subprocess.run([sys.executable, "-c", PROBE, "run", config, "-m", "hi"], env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert off.returncode == 0, off.stderr
    assert off.stderr.strip().splitlines()[-1] == "no SDK 0"  # not even the API
    on = subprocess.run([sys.executable, "-c", PROBE, "run", config, "-m", "hi"], env={**env, "OTEL_TRACES_EXPORTER": "console"},
                        capture_output=True, text=True, timeout=120, check=False)
    assert on.returncode == 0, on.stderr
    assert on.stderr.strip().splitlines()[-1].startswith("SDK")
    assert '"name": "invoke_agent shop"' in on.stdout  # the console exporter's JSON


def test_tracing_without_the_sdk_installed_is_one_clear_line(tmp_path: Path, upstream: OpenAIServer) -> None:
    blocker = tmp_path / "block"
    (blocker / "opentelemetry" / "sdk").mkdir(parents=True)
    (blocker / "opentelemetry" / "sdk" / "__init__.py").write_text("raise ImportError('blocked for the test')\n")
    (blocker / "sitecustomize.py").write_text(
        "import sys, importlib.machinery\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'opentelemetry.sdk' or name.startswith('opentelemetry.sdk.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(PYTHONPATH=f"{blocker}{os.pathsep}{ROOT}", OTEL_TRACES_EXPORTER="console")
    done = run_aixgo("run", str(write_config(tmp_path, upstream)), "-m", "hi", env=env)
    assert done.returncode == 1 and no_traceback(done.stderr), done.stderr
    assert "tracing (asked for by observability.tracing, OTEL_* variables or --trace; OTEL_SDK_DISABLED=true turns " \
           "it off) needs an optional dependency" in done.stderr
    assert "pip install -e '.[otel]'" in done.stderr
