"""The span export process of :mod:`aixgo.observability.offload` (``python -m aixgo.observability.exportd``).

Reads length-prefixed pickled messages on stdin from the process whose telemetry it exports (its
parent, nobody else: the pipe is private to them): ``("setup", settings, resource)`` once, then
``("spans", [packed span, ...])``, ``("measurements", [(histogram, value, attributes), ...])`` (recorded
in aixgo's histograms on a meter provider of its own, read periodically as the SDK does) and
``("flush", n)``, answered by ``n`` on a line of stdout once everything before it was exported. Ends,
after exporting what it has, when stdin closes.
"""

from __future__ import annotations

import contextlib
import pickle
import struct
import sys
from typing import IO, Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from aixgo.observability.settings import TelemetrySettings

_FRAME = struct.Struct("!I")


def unpack(packed: tuple[Any, ...], resource: Resource) -> ReadableSpan:
    """The span :func:`aixgo.observability.offload.pack` packed."""
    (name, trace_id, span_id, flags, state, parent, kind, start, end, attributes, events, links,
     status_code, description, scope) = packed
    trace_state = TraceState.from_header([state]) if state else TraceState()
    context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(flags), trace_state=trace_state)
    parent_context = None if parent is None else SpanContext(
        trace_id, parent[0], is_remote=parent[1], trace_flags=TraceFlags(parent[2]), trace_state=trace_state)
    return ReadableSpan(
        name=name, context=context, parent=parent_context, resource=resource, attributes=attributes,
        events=[Event(event_name, event_attributes, timestamp) for event_name, event_attributes, timestamp in events],
        links=[Link(SpanContext(link_trace, link_span, is_remote=True, trace_flags=TraceFlags(link_flags)), link_attrs)
               for link_trace, link_span, link_flags, link_attrs in links],
        kind=SpanKind(kind), status=Status(StatusCode(status_code), description), start_time=start, end_time=end,
        instrumentation_scope=None if scope is None else InstrumentationScope(*scope),
    )


def _read(stream: IO[bytes]) -> Any:
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        return None
    body = stream.read(_FRAME.unpack(head)[0])
    return pickle.loads(body)  # noqa: S301 - from the parent process only, over a private pipe


class _Exports:
    """The exporter and the meter provider of the setup message, and what to do with each message."""

    def __init__(self, settings: TelemetrySettings, resource: Resource) -> None:
        from aixgo.observability.sdk import metric_reader, span_exporter  # noqa: PLC0415
        from aixgo.observability.tracer import histograms  # noqa: PLC0415

        self.resource = resource
        self.exporter = span_exporter(settings)
        reader = metric_reader(settings)
        self.meter = MeterProvider(resource=resource, metric_readers=[reader] if reader is not None else [])
        self.histograms = histograms(self.meter.get_meter("aixgo"))

    def spans(self, batch: list[tuple[Any, ...]]) -> None:
        if self.exporter is not None:
            self.exporter.export([unpack(packed, self.resource) for packed in batch])

    def measurements(self, batch: list[tuple[str, float, dict[str, Any]]]) -> None:
        histograms = self.histograms
        for name, value, attributes in batch:
            histograms[name].record(value, attributes)

    def flush(self) -> None:
        self.meter.force_flush()

    def shutdown(self) -> None:
        if self.exporter is not None:
            self.exporter.shutdown()
        self.meter.shutdown()


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Export the telemetry read from ``stdin`` until it closes (see the module)."""
    exports: _Exports | None = None
    while (message := _read(stdin)) is not None:
        kind = message[0]
        try:
            if kind == "setup":
                exports = _Exports(message[1], Resource(message[2]))
            elif kind == "spans" and exports is not None:
                exports.spans(message[1])
            elif kind == "measurements" and exports is not None:
                exports.measurements(message[1])
            elif kind == "flush":
                if exports is not None:
                    exports.flush()
                stdout.write(f"{message[1]}\n".encode())
                stdout.flush()
        except Exception as error:
            print(f"aixgo: telemetry ({kind}) was not exported: {type(error).__name__}", file=sys.stderr)
    if exports is not None:
        exports.shutdown()


def main() -> None:
    """Entry point of the export process."""
    with contextlib.suppress(KeyboardInterrupt):
        serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
