"""Setting up the OpenTelemetry SDK for a process: tracer and meter providers with their exporters.

The only module of aixgo that imports the SDK (``pip install 'aixgo[otel]'``), and only when
tracing is on. A provider the application already set is used as it is (aixgo adds nothing to it
but, for ``--trace``, the span-tree printer); otherwise aixgo sets its own, once per process, and
flushes them when the process exits.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, TextIO

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from aixgo.errors import ConfigError
from aixgo.observability.light import LightTracerProvider
from aixgo.observability.offload import ExportPipe, PipedRecorder
from aixgo.observability.settings import TelemetrySettings
from aixgo.observability.tree import TreePrinter

_lock = threading.Lock()


@dataclass
class Providers:
    """The providers aixgo's spans and measurements go to, and whether aixgo set them."""

    tracer: trace.TracerProvider
    meter: metrics.MeterProvider
    owned: bool
    recorder: PipedRecorder | None = None
    """Where the observer's measurements go when aixgo's export process records them (else the meter)."""

    def flush(self, timeout_ms: int = 5000) -> None:
        """Export what is buffered (spans and measurements) now."""
        for provider in (self.tracer, self.meter):
            force_flush = getattr(provider, "force_flush", None)
            if force_flush is not None:
                force_flush(timeout_ms)


_installed: Providers | None = None
_printers: list[TreePrinter] = []


def install(settings: TelemetrySettings, tree_stream: TextIO | None = None) -> Providers:
    """The providers for ``settings``: the application's when it set them, else aixgo's (set once per
    process; later calls reuse them). ``settings.print_tree`` adds a printer of each turn's span tree
    on ``tree_stream`` (default stderr), once."""
    global _installed  # noqa: PLW0603 - providers are process-wide by OpenTelemetry's design
    with _lock:
        if _installed is None:
            _installed = _adopt() or _own(settings)
        providers = _installed
        if settings.print_tree and not _printers and isinstance(providers.tracer, TracerProvider):
            printer = TreePrinter(tree_stream if tree_stream is not None else sys.stderr)
            providers.tracer.add_span_processor(printer)
            _printers.append(printer)
        return providers


def _adopt() -> Providers | None:
    """The application's providers, when it set an SDK tracer provider before aixgo started."""
    current = trace.get_tracer_provider()
    if isinstance(current, trace.ProxyTracerProvider) or not isinstance(current, TracerProvider):
        return None
    return Providers(current, metrics.get_meter_provider(), owned=False)


def _own(settings: TelemetrySettings) -> Providers:
    resource = Resource.create({"service.name": settings.service_name})
    tracer_provider = _tracer_provider(settings, resource)
    offloaded = isinstance(tracer_provider, LightTracerProvider)  # measurements too go to the export process
    reader = None if offloaded else metric_reader(settings)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader] if reader is not None else [])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    recorder = PipedRecorder(tracer_provider.pipe) if isinstance(tracer_provider, LightTracerProvider) else None
    providers = Providers(tracer_provider, meter_provider, owned=True, recorder=recorder)
    atexit.register(_shutdown, providers)
    return providers


def _tracer_provider(settings: TelemetrySettings, resource: Resource) -> trace.TracerProvider:
    """aixgo's light provider when spans go over OTLP (light.py: made in µs, encoded and sent by a
    process of their own); the SDK's for the console, the span tree, or a sampler named by
    ``OTEL_TRACES_SAMPLER``."""
    rate = settings.sampling_rate
    if (settings.traces_exporter == "otlp" and not settings.print_tree
            and (rate is not None or "OTEL_TRACES_SAMPLER" not in os.environ)):
        return LightTracerProvider(ExportPipe(settings, dict(resource.attributes)), rate)
    tracer_provider = TracerProvider(resource=resource,
                                     sampler=ParentBased(TraceIdRatioBased(rate)) if rate is not None else None)
    if (exporter := span_exporter(settings)) is not None:
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    return tracer_provider


def _shutdown(providers: Providers) -> None:
    for provider in (providers.tracer, providers.meter):
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            shutdown()


def _endpoint(settings: TelemetrySettings, signal: str) -> str | None:
    """The YAML endpoint as the exporter wants it (None: the exporter reads ``OTEL_*`` itself)."""
    endpoint = settings.endpoint
    if endpoint is None:
        return None
    if "://" not in endpoint:
        endpoint = f"http://{endpoint}"
    if settings.protocol == "grpc":
        return endpoint
    endpoint = endpoint.rstrip("/")
    for known in ("/v1/traces", "/v1/metrics"):
        endpoint = endpoint.removesuffix(known)
    return f"{endpoint}/v1/{signal}"


def span_exporter(settings: TelemetrySettings) -> SpanExporter | None:
    """The span exporter ``settings`` name (None: none)."""
    if settings.traces_exporter == "none":
        return None
    if settings.traces_exporter == "console":
        return ConsoleSpanExporter()
    exporter: SpanExporter = _otlp(settings, "traces", "trace_exporter", "OTLPSpanExporter")
    return exporter


def metric_reader(settings: TelemetrySettings) -> PeriodicExportingMetricReader | None:
    """The periodic reader of the metric exporter ``settings`` name (None: none)."""
    if settings.metrics_exporter == "none":
        return None
    if settings.metrics_exporter == "console":
        return PeriodicExportingMetricReader(ConsoleMetricExporter())
    exporter: MetricExporter = _otlp(settings, "metrics", "metric_exporter", "OTLPMetricExporter")
    return PeriodicExportingMetricReader(exporter)


def _otlp(settings: TelemetrySettings, signal: str, module: str, name: str) -> Any:
    """The OTLP exporter of ``signal`` for the settings' protocol (``grpc`` needs its own package)."""
    options: dict[str, Any] = {"endpoint": _endpoint(settings, signal)}
    if settings.headers:
        options["headers"] = dict(settings.headers)
    transport = "grpc" if settings.protocol == "grpc" else "http"
    try:
        exporters = importlib.import_module(f"opentelemetry.exporter.otlp.proto.{transport}.{module}")
    except ImportError:
        package = f"opentelemetry-exporter-otlp-proto-{transport}"
        raise ConfigError(f"OTLP over {transport} needs the {package} package: pip install {package}") from None
    return getattr(exporters, name)(**options)


def providers() -> Providers | None:
    """The providers :func:`install` set up in this process, if it did."""
    return _installed


def add_span_processor(processor: SpanProcessor) -> None:
    """Add ``processor`` to the installed tracer provider (tests and tools)."""
    if _installed is not None and isinstance(_installed.tracer, TracerProvider):
        _installed.tracer.add_span_processor(processor)


__all__ = ["Providers", "add_span_processor", "install", "providers"]
