"""A tracer provider whose spans cost a turn next to nothing: :class:`LightTracerProvider`.

The SDK's span checks and copies every attribute under a lock, asks a sampler object, and hands
the span to its processors (about 35 µs a span here, ten times the rest of aixgo's tracing). aixgo
sets this provider up instead when it owns the process's telemetry and sends spans over OTLP
(:func:`aixgo.observability.sdk.install`): a span is a slotted record of plain values that, when it
ends, becomes a tuple on the queue of the export process (:mod:`aixgo.observability.offload`),
which rebuilds it as an SDK span there and exports it with the SDK's exporter. Sampling is the
SDK's ``ParentBased(TraceIdRatioBased(rate))`` decision, computed the same way.

It implements the OpenTelemetry tracing **API**, so any instrumentation using the global provider
records through it as well; an application that sets an SDK provider of its own keeps it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.util import types
from opentelemetry.util._decorator import _agnosticcontextmanager

from aixgo.observability.offload import ExportPipe

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSAMPLED = TraceFlags(TraceFlags.DEFAULT)
_SIMPLE = (str, bool, int, float)
_TRACE_ID_LIMIT = (1 << 64) - 1


def _clean(attributes: Mapping[str, Any] | None, into: dict[str, Any]) -> None:
    """Copy the valid attribute values (as the SDK keeps them: scalars, and sequences as tuples)."""
    if not attributes:
        return
    for key, value in attributes.items():
        if isinstance(value, _SIMPLE):
            into[key] = value
        elif isinstance(value, Sequence) and all(isinstance(item, _SIMPLE) for item in value):
            into[key] = tuple(value)


class LightSpan(trace.Span):
    """A recording span: plain values, packed for the export process when it ends."""

    __slots__ = ("_attributes", "_context", "_description", "_ended", "_events", "_kind", "_links", "_name",
                 "_parent", "_pipe", "_scope", "_start", "_status")

    def __init__(self, name: str, context: SpanContext, parent: SpanContext | None, kind: SpanKind,
                 attributes: Mapping[str, Any] | None, links: Sequence[Link], start: int,
                 pipe: ExportPipe, scope: tuple[str, str | None, str | None]) -> None:
        self._name, self._context, self._parent, self._kind = name, context, parent, kind
        self._attributes: dict[str, Any] = {}
        _clean(attributes, self._attributes)
        self._events: list[tuple[str, dict[str, Any], int]] = []
        self._links = [(link.context.trace_id, link.context.span_id, int(link.context.trace_flags),
                        dict(link.attributes or {})) for link in links]
        self._start, self._ended, self._pipe, self._scope = start, False, pipe, scope
        self._status: StatusCode = StatusCode.UNSET
        self._description: str | None = None

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return not self._ended

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        if not self._ended:
            _clean(attributes, self._attributes)

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        if not self._ended:
            _clean({key: value}, self._attributes)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        if not self._ended:
            cleaned: dict[str, Any] = {}
            _clean(attributes, cleaned)
            self._events.append((name, cleaned, timestamp if timestamp is not None else time.time_ns()))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if not self._ended and context.is_valid:
            self._links.append((context.trace_id, context.span_id, int(context.trace_flags), dict(attributes or {})))

    def update_name(self, name: str) -> None:
        if not self._ended:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._ended or self._status is StatusCode.OK:  # OK is final, as in the SDK
            return
        code = status.status_code if isinstance(status, Status) else status
        if isinstance(status, Status):
            description = status.description
        if code is StatusCode.UNSET:
            return
        self._status, self._description = code, description if code is StatusCode.ERROR else None

    def record_exception(self, exception: BaseException, attributes: types.Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        recorded: dict[str, Any] = {"exception.type": type(exception).__qualname__,
                                    "exception.message": str(exception), "exception.escaped": str(escaped)}
        _clean(attributes, recorded)
        self.add_event("exception", recorded, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        context, parent = self._context, self._parent
        self._pipe.put((
            self._name, context.trace_id, context.span_id, int(context.trace_flags), "",
            None if parent is None else (parent.span_id, parent.is_remote, int(parent.trace_flags)),
            self._kind.value, self._start, end_time if end_time is not None else time.time_ns(),
            self._attributes, self._events, self._links, self._status.value, self._description, self._scope,
        ))


class LightTracer(trace.Tracer):
    """Starts :class:`LightSpan` s (sampled ones; the others are non-recording, their context carried on)."""

    def __init__(self, provider: LightTracerProvider, scope: tuple[str, str | None, str | None]) -> None:
        self._provider, self._scope = provider, scope

    def start_span(self, name: str, context: otel_context.Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
                   attributes: types.Attributes = None, links: Sequence[Link] | None = None,
                   start_time: int | None = None, record_exception: bool = True,
                   set_status_on_exception: bool = True) -> trace.Span:
        found = trace.get_current_span(context).get_span_context()
        provider = self._provider
        span_id = random.getrandbits(64) or 1
        parent: SpanContext | None = found if found.is_valid else None
        if parent is not None:
            trace_id, sampled = parent.trace_id, parent.trace_flags.sampled
        else:
            trace_id = random.getrandbits(128) or 1
            sampled = provider.samples(trace_id)
        if not sampled:
            return NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=_UNSAMPLED))
        span_context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=_SAMPLED)
        return LightSpan(name, span_context, parent, kind, attributes, links or (),
                         start_time if start_time is not None else time.time_ns(), provider.pipe, self._scope)

    @_agnosticcontextmanager
    def start_as_current_span(self, name: str, context: otel_context.Context | None = None,
                              kind: SpanKind = SpanKind.INTERNAL, attributes: types.Attributes = None,
                              links: Sequence[Link] | None = None, start_time: int | None = None,
                              record_exception: bool = True, set_status_on_exception: bool = True,
                              end_on_exit: bool = True) -> Iterator[trace.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception,
                            set_status_on_exception=set_status_on_exception) as current:
            yield current


class LightTracerProvider(trace.TracerProvider):
    """Light tracers whose spans go to ``pipe`` (see the module). ``rate``: the share of new traces
    sampled (None: all); a trace continued from a caller follows the caller's decision."""

    def __init__(self, pipe: ExportPipe, rate: float | None = None) -> None:
        self.pipe = pipe
        self._bound = None if rate is None or rate >= 1 else round(max(rate, 0.0) * (_TRACE_ID_LIMIT + 1))

    def samples(self, trace_id: int) -> bool:
        """Whether a new trace is kept (the SDK's ``TraceIdRatioBased`` rule: its low 64 bits under the bound)."""
        return self._bound is None or trace_id & _TRACE_ID_LIMIT < self._bound

    def get_tracer(self, instrumenting_module_name: str, instrumenting_library_version: str | None = None,
                   schema_url: str | None = None, attributes: types.Attributes = None) -> trace.Tracer:
        return LightTracer(self, (instrumenting_module_name, instrumenting_library_version, schema_url))

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Return once every span ended so far was exported."""
        return self.pipe.flush(timeout_millis)

    def shutdown(self) -> None:
        """Export what is left and end the export process."""
        self.pipe.close()


__all__ = ["LightSpan", "LightTracer", "LightTracerProvider"]
