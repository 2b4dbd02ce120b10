"""Spans encoded and sent by an export process of their own, never by a thread of the process whose
turns they describe (offload.py): what aixgo's own OTLP setup exports arrives whole (events,
status, parents, the resource), a flush returns once it has, and a dead export process costs the
turns nothing but one warning."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.otlp_receiver import OtlpReceiver

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import os, signal, sys, threading
from aixgo.logs import configure_logging
from aixgo.observability import TelemetrySettings, start_telemetry
configure_logging()
from opentelemetry.trace import Status, StatusCode
telemetry = start_telemetry(TelemetrySettings(enabled=True, endpoint=sys.argv[1], service_name="offloaded"))
tracer = telemetry.observer.tracer

def turn(number):
    with tracer.start_as_current_span("invoke_agent probe", attributes={"turn": number}):
        with tracer.start_as_current_span("chat probe") as chat:
            chat.add_event("gen_ai.client.retry", {"aixgo.retry.attempt": 1})
            chat.set_status(Status(StatusCode.ERROR, "boom"))

turn(1)
telemetry.flush()
print("flushed", flush=True)
print(sorted(t.name for t in threading.enumerate()), flush=True)
if sys.argv[2] == "kill":
    pipe = telemetry.providers.tracer.pipe
    pipe._process.kill()
    pipe._process.wait()
    for number in range(2, 5):
        turn(number)
        telemetry.flush()
    print("turns went on", flush=True)
"""


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


def probe(receiver: OtlpReceiver, mode: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update(PYTHONPATH=str(ROOT), OTEL_METRICS_EXPORTER="none")
    return subprocess.run([sys.executable, "-c", PROBE, receiver.endpoint, mode], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_spans_arrive_whole_from_an_export_process_and_flush_waits_for_them(receiver: OtlpReceiver) -> None:
    done = probe(receiver, "keep")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "flushed"
    assert len(receiver.spans) == 2  # already there when flush returned
    assert "OtelBatchSpanProcessor" not in lines[1]  # no exporting thread beside the turns
    turn, chat = receiver.named("invoke_agent")[0], receiver.named("chat")[0]
    assert chat.parent_span_id == turn.span_id and chat.trace_id == turn.trace_id and turn.parent_span_id == ""
    assert turn.attributes == {"turn": 1} and turn.service == "offloaded"
    assert chat.events == [("gen_ai.client.retry", {"aixgo.retry.attempt": 1})]
    assert (chat.status, chat.status_message) == (2, "boom")
    assert chat.kind == "INTERNAL" and chat.end_ns >= chat.start_ns > 0


def test_a_dead_export_process_costs_the_turns_one_warning(receiver: OtlpReceiver) -> None:
    done = probe(receiver, "kill")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "turns went on"
    assert "Traceback" not in done.stderr
    assert done.stderr.count("telemetry.export_process_gone") == 1
    assert len(receiver.spans) == 2  # those of the first turn only


class Collected:
    """Where light spans go when they end (the export pipe's interface)."""

    def __init__(self) -> None:
        self.spans: list[tuple[object, ...]] = []

    def put(self, packed: tuple[object, ...]) -> None:
        self.spans.append(packed)


def test_light_spans_sample_as_the_sdk_and_follow_the_callers_decision() -> None:
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    from aixgo.observability.light import LightTracerProvider

    collected = Collected()
    tracer = LightTracerProvider(collected, rate=0.0).get_tracer("aixgo")  # type: ignore[arg-type]
    with tracer.start_as_current_span("dropped") as span:
        assert not span.is_recording() and span.get_span_context().is_valid  # its context is still carried on
    caller = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with tracer.start_as_current_span("kept", context=trace.set_span_in_context(NonRecordingSpan(caller))) as span:
        span.set_attributes({"n": 1, "bad": object(), "list": ["a", "b"]})  # type: ignore[dict-item]
        span.set_status(trace.StatusCode.ERROR, "why")
    (packed,) = collected.spans
    assert packed[0] == "kept" and packed[1] == caller.trace_id and packed[5] == (caller.span_id, True, 1)
    assert packed[9] == {"n": 1, "list": ("a", "b")} and packed[12:14] == (2, "why")
