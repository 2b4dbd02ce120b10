"""Tracing and metrics through OpenTelemetry, on the GenAI semantic conventions (docs/observability.md).

* :func:`resolve_settings`: what the ``observability:`` block and the ``OTEL_*`` variables ask for;
* :func:`start_telemetry`: with tracing on, set up the SDK (``pip install 'aixgo[otel]'``) and return
  the :class:`Telemetry` whose :attr:`~Telemetry.observer` the runtime hands to its agents, itself and
  its session manager (:meth:`aixgo.Runtime.from_config` does it all);
* :class:`~aixgo.observability.tracer.TracingObserver`: the spans and metrics, through the
  OpenTelemetry API only, for applications that set up OpenTelemetry themselves.

Importing this package imports no OpenTelemetry module: with tracing off, nothing of it is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from aixgo.errors import MissingDependencyError
from aixgo.observability.settings import TelemetrySettings, resolve_settings

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from aixgo.observability.sdk import Providers
    from aixgo.observability.tracer import TracingObserver


@dataclass
class Telemetry:
    """Tracing switched on for a process: the observer to give agents, runtimes and session managers,
    and the SDK providers it reports to."""

    settings: TelemetrySettings
    observer: TracingObserver
    providers: Providers

    def flush(self, timeout_ms: int = 5000) -> None:
        """Export the buffered spans and measurements now (they also go out every few seconds, and
        when the process exits)."""
        self.observer.flush(timeout_ms / 1000)
        self.providers.flush(timeout_ms)

    def asgi(self, app: ASGIApp) -> ASGIApp:
        """``app`` behind a middleware that continues an incoming ``traceparent`` in a server span."""
        from aixgo.observability.http import TraceContextMiddleware  # noqa: PLC0415

        return TraceContextMiddleware(app, self.observer.tracer)


def start_telemetry(settings: TelemetrySettings, *, tree_stream: TextIO | None = None) -> Telemetry | None:
    """Set up tracing and metrics for ``settings`` (None when they leave tracing off).

    Raises :class:`~aixgo.errors.MissingDependencyError` when the OpenTelemetry SDK is not installed."""
    if not settings.enabled:
        return None
    try:
        from aixgo.observability import sdk  # noqa: PLC0415 - the SDK loads only when tracing is on
    except ImportError:
        raise MissingDependencyError(
            "tracing (asked for by observability.tracing, OTEL_* variables or --trace; OTEL_SDK_DISABLED=true "
            "turns it off)", "otel") from None
    from aixgo.observability.tracer import TracingObserver  # noqa: PLC0415

    providers = sdk.install(settings, tree_stream)
    observer = TracingObserver(tracer_provider=providers.tracer, meter_provider=providers.meter,
                               capture_content=settings.capture_content, store_span_ms=settings.store_span_ms,
                               recorder=providers.recorder)
    return Telemetry(settings, observer, providers)


def __getattr__(name: str) -> Any:
    if name == "TracingObserver":
        from aixgo.observability.tracer import TracingObserver  # noqa: PLC0415 - loads the OpenTelemetry API

        return TracingObserver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Telemetry", "TelemetrySettings", "TracingObserver", "resolve_settings", "start_telemetry"]
