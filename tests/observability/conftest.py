"""Fixtures for the tracing tests: an SDK tracer and meter provider of the test's own (in-memory
exporter and reader), a :class:`TracingObserver` reporting to them, and a runtime wired to it as
:meth:`aixgo.Runtime.from_config` wires one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aixgo.agents import ReActAgent
from aixgo.observability.tracer import TracingObserver
from aixgo.runtime import Runtime
from aixgo.session import FileBackend, Manager
from tests.support.fixtures import (  # noqa: F401
    aixgo_logs,
    fast_retries,
    openai_server,
    server_model,
    sleeps,
)


@dataclass
class Traced:
    """Where the observer's spans and measurements land."""

    observer: TracingObserver
    spans_exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.name.startswith(prefix)]

    def one(self, prefix: str) -> ReadableSpan:
        found = self.named(prefix)
        assert len(found) == 1, [span.name for span in self.spans()]
        return found[0]

    def points(self, metric: str) -> list[Any]:
        """The data points of ``metric`` collected so far (histograms: count, sum, attributes)."""
        assert self.observer.flush()
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        found.extend(item.data.data_points)
        return found


def make_traced(capture_content: bool = False, store_span_ms: float = 60_000) -> Traced:
    """An observer reporting to in-memory SDK providers; store operations get spans only when slower
    than ``store_span_ms`` (by default, never: a loaded machine makes any operation slow now and then)."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    observer = TracingObserver(tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader]),
                               capture_content=capture_content, store_span_ms=store_span_ms)
    return Traced(observer, exporter, reader)


@pytest.fixture
def traced() -> Traced:
    return make_traced()


RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def traced_runtime(tmp_path: Path) -> Iterator[RuntimeFactory]:
    """``traced_runtime(traced, agent)``: a file-store runtime whose turns, agent and store ``traced`` observes."""
    made: list[Runtime] = []

    def make(traced: Traced, agent: ReActAgent, **options: Any) -> Runtime:
        manager = Manager(FileBackend(tmp_path / f"store-{len(made)}", fsync="never"), observers=[traced.observer.store])
        runtime = Runtime(manager, observers=[traced.observer], **options)
        agent.observers = (traced.observer,)  # as agent_from_config(..., observers=...) does
        runtime.register_agent(agent)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close()


def tree(spans: list[ReadableSpan]) -> list[tuple[int, str]]:
    """The spans as (depth, name), depth-first in start order: the shape of a trace."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {span.context.span_id for span in spans if span.context}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(span)
    out: list[tuple[int, str]] = []

    def walk(parent: int | None, depth: int) -> None:
        for span in sorted(by_parent.get(parent, []), key=lambda s: s.start_time or 0):
            out.append((depth, span.name))
            walk(span.context.span_id if span.context else None, depth + 1)

    walk(None, 0)
    return out
