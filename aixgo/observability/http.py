"""``aixgo serve`` continues the caller's trace: an ASGI middleware around the whole app.

It reads the W3C ``traceparent`` (and ``tracestate``, ``baggage``) of each HTTP request, opens a
``SERVER`` span in that trace, and makes it current while the request is served, so the turn's spans
and the upstream model request (which carries the trace on in its own ``traceparent``) are its
children. Health probes (``/healthz``, ``/readyz``) are not traced. OpenTelemetry API only.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ROUTES = (
    ("/v1/sessions/", "/checkpoints", "/v1/sessions/{session_id}/checkpoints"),
    ("/v1/sessions/", "/restore", "/v1/sessions/{session_id}/restore"),
    ("/v1/sessions/", "/export", "/v1/sessions/{session_id}/export"),
    ("/v1/sessions/", "", "/v1/sessions/{session_id}"),
)
"""Paths with an id in them, named by their template (a span name must not hold an id)."""

UNTRACED = frozenset({"/healthz", "/readyz"})
"""Probes: a load balancer's every few seconds would bury the traces that matter."""


def route_of(path: str) -> str:
    """``path`` as the route that serves it (ids replaced by ``{session_id}``)."""
    for start, end, template in ROUTES:
        if path.startswith(start) and path.endswith(end) and len(path) > len(start) + len(end):
            middle = path[len(start): len(path) - len(end)] if end else path[len(start):]
            if "/" not in middle:
                return template
    return path


class TraceContextMiddleware:
    """A ``SERVER`` span per HTTP request, in the trace of its ``traceparent`` when it has one."""

    def __init__(self, app: ASGIApp, tracer: trace.Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNTRACED:
            await self.app(scope, receive, send)
            return
        carrier = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        parent = propagate.extract(carrier)
        method, route = scope.get("method", "GET"), route_of(scope.get("path", ""))
        attributes: dict[str, Any] = {"http.request.method": method, "http.route": route,
                                      "url.scheme": scope.get("scheme", "http")}
        server = scope.get("server")
        if server:
            attributes["server.address"], attributes["server.port"] = server[0], server[1]
        span = self.tracer.start_span(f"{method} {route}", context=parent, kind=SpanKind.SERVER, attributes=attributes)
        status: list[int] = []

        async def traced_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        attached = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, traced_send)
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            otel_context.detach(attached)
            if status:
                span.set_attribute("http.response.status_code", status[0])
                if status[0] >= 500:
                    span.set_attribute("error.type", str(status[0]))
                    span.set_status(Status(StatusCode.ERROR))
            span.end()


__all__ = ["TraceContextMiddleware", "route_of"]
