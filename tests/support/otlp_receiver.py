"""An OTLP/HTTP receiver for tests: loopback, free port, protobuf payloads decoded with ``opentelemetry-proto``.

It accepts ``POST /v1/traces`` and ``/v1/metrics`` as a collector does (gzip or not), answers with
the empty success response, and keeps what it received: spans as :class:`ReceivedSpan`, metric names
with their data points' attributes. :meth:`OtlpReceiver.wait_for` waits (on a condition, with a
generous timeout) until what arrived satisfies a test.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def value_of(value: AnyValue) -> Any:
    """An OTLP attribute value as Python (arrays as tuples)."""
    which = value.WhichOneof("value")
    if which == "array_value":
        return tuple(value_of(item) for item in value.array_value.values)
    if which is None:
        return None
    return getattr(value, which)


@dataclass
class ReceivedSpan:
    """One span as it arrived."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: str
    attributes: dict[str, Any]
    status: int
    status_message: str
    events: list[tuple[str, dict[str, Any]]]
    service: str
    start_ns: int
    end_ns: int


@dataclass
class OtlpReceiver:
    """The receiver; use as a context manager."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    metrics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._changed = threading.Condition()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="otlp-receiver", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        """The base URL an exporter's ``OTEL_EXPORTER_OTLP_ENDPOINT`` names."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def received(self, path: str, headers: dict[str, str], body: bytes) -> bytes:
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        with self._changed:
            self.requests.append((path, headers))
            if path == "/v1/traces":
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                self.spans.extend(_spans(request))
                answer = ExportTraceServiceResponse().SerializeToString()
            else:
                metrics_request = ExportMetricsServiceRequest()
                metrics_request.ParseFromString(body)
                for name, points in _metrics(metrics_request):
                    self.metrics.setdefault(name, []).extend(points)
                answer = ExportMetricsServiceResponse().SerializeToString()
            self._changed.notify_all()
        return answer

    def wait_for(self, ready: Callable[[OtlpReceiver], bool], timeout: float = 30.0) -> None:
        """Wait until ``ready(self)`` holds; AssertionError naming what arrived after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not ready(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the receiver did not get what was expected; spans: "
                                         f"{[s.name for s in self.spans]}, metrics: {sorted(self.metrics)}")
                self._changed.wait(left)

    def named(self, prefix: str) -> list[ReceivedSpan]:
        with self._changed:
            return [span for span in self.spans if span.name.startswith(prefix)]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OtlpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _attributes(items: Any) -> dict[str, Any]:
    return {item.key: value_of(item.value) for item in items}


def _spans(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    found = []
    for resource_spans in request.resource_spans:
        service = _attributes(resource_spans.resource.attributes).get("service.name", "")
        for scope in resource_spans.scope_spans:
            for span in scope.spans:
                found.append(ReceivedSpan(
                    name=span.name, trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(), kind=KINDS.get(span.kind, str(span.kind)),
                    attributes=_attributes(span.attributes), status=span.status.code,
                    status_message=span.status.message,
                    events=[(event.name, _attributes(event.attributes)) for event in span.events],
                    service=service, start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano,
                ))
    return found


def _metrics(request: ExportMetricsServiceRequest) -> list[tuple[str, list[dict[str, Any]]]]:
    found = []
    for resource_metrics in request.resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                which = metric.WhichOneof("data")
                points = getattr(metric, which).data_points if which else []
                found.append((metric.name, [_attributes(point.attributes) for point in points]))
    return found


def _handler_for(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {key.lower(): value for key, value in self.headers.items()}
            if self.path not in ("/v1/traces", "/v1/metrics"):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            answer = receiver.received(self.path, headers, body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    return Handler


def span_tree(spans: list[ReceivedSpan]) -> str:
    """The spans of one trace as an indented tree (children in start order), for reports and failures."""
    ids = {span.span_id for span in spans}
    children: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else ""
        children.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: str, prefix: str) -> None:
        below = sorted(children.get(parent, []), key=lambda s: s.start_ns)
        for index, span in enumerate(below):
            last = index == len(below) - 1
            shown = {k: v for k, v in span.attributes.items() if k != "gen_ai.operation.name"}
            branch = ("└─ " if last else "├─ ") if prefix or parent else ""
            lines.append(f"{prefix}{branch}{span.name} [{span.kind}] "
                         f"{(span.end_ns - span.start_ns) / 1e6:.1f} ms {shown}")
            walk(span.span_id, prefix + (("   " if last else "│  ") if (prefix or parent) else ""))

    walk("", "")
    return "\n".join(lines)
