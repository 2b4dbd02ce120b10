"""What tracing and metrics should do: :class:`TelemetrySettings`, from the ``observability:`` block and ``OTEL_*``.

Pure: nothing here imports OpenTelemetry. Tracing is **off** unless something asks for it: the YAML
block (``tracing: true``), an exporter or endpoint named in the environment
(``OTEL_TRACES_EXPORTER=otlp|console``, ``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), ``OTEL_TRACES_ENABLED=true`` (the Go aixgo's switch) or
``aixgo run --trace``. The environment overrides the file, so a deployment can redirect or silence
telemetry without editing it; ``OTEL_SDK_DISABLED=true`` turns everything off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from aixgo.errors import ConfigError

ExporterName = Literal["otlp", "console", "stdout", "none"]
"""What a config may name as ``observability.exporter`` (``stdout`` is ``console``, the Go aixgo's name)."""
OtlpProtocol = Literal["http/protobuf", "grpc"]
"""OTLP over HTTP with protobuf payloads, or gRPC."""

TRACES_EXPORTERS = ("otlp", "console", "none")
METRICS_EXPORTERS = ("otlp", "console", "none")
PROTOCOLS: tuple[str, ...] = get_args(OtlpProtocol)
DEFAULT_SERVICE_NAME = "aixgo"
DEFAULT_STORE_SPAN_MS = 5.0
"""Store operations that take at least this long get a span of their own (checkpoints and restores
always do); every one is counted in the store latency histogram."""

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """Resolved telemetry settings (see :func:`resolve_settings`). ``headers`` is never shown by ``repr``."""

    enabled: bool = False
    traces_exporter: str = "otlp"
    metrics_exporter: str = "none"
    endpoint: str | None = None
    """From the YAML file only; ``OTEL_EXPORTER_OTLP_*ENDPOINT`` are read by the exporter itself."""
    protocol: str = "http/protobuf"
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    service_name: str = DEFAULT_SERVICE_NAME
    sampling_rate: float | None = None
    """None: ``OTEL_TRACES_SAMPLER`` (``OTEL_TRACES_SAMPLER_ARG``), else every trace."""
    capture_content: bool = False
    store_span_ms: float = DEFAULT_STORE_SPAN_MS
    print_tree: bool = False
    """``aixgo run --trace``: print each turn's span tree on stderr."""

    def with_tree(self) -> TelemetrySettings:
        """These settings, tracing on and the span tree printed (an exporter only if one is configured)."""
        exporter = self.traces_exporter if self.enabled else "none"
        return replace(self, enabled=True, print_tree=True, traces_exporter=exporter,
                       metrics_exporter=self.metrics_exporter if self.enabled else "none")


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if value:
        raise ConfigError(f"{name}={env[name]!r} is not a boolean: use true or false")
    return None


def _exporter(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return None
    chosen = [part.strip() for part in raw.split(",") if part.strip()]
    chosen = ["console" if part in ("stdout", "logging") else part for part in chosen]
    unknown = [part for part in chosen if part not in allowed]
    if unknown:
        raise ConfigError(f"{name}={env[name]!r}: aixgo knows {', '.join(allowed)} (got {', '.join(unknown)})")
    real = [part for part in chosen if part != "none"]
    return real[0] if real else "none"


def parse_headers(text: str) -> dict[str, str]:
    """``key1=value1,key2=value2`` (the ``OTEL_EXPORTER_OTLP_HEADERS`` form) as a dict."""
    headers: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            headers[key.strip()] = value.strip()
    return headers


def _rate(value: Any, where: str) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a number from 0 to 1, found {value!r}") from None
    if not 0 <= rate <= 1:
        raise ConfigError(f"{where}: expected a number from 0 to 1, found {value!r}")
    return rate


def resolve_settings(config: object = None, env: Mapping[str, str] | None = None) -> TelemetrySettings:
    """The settings of a config's ``observability:`` block (:class:`~aixgo.config.ObservabilityConfig`,
    or a mapping of its keys) with the ``OTEL_*`` variables of ``env`` (default: the process
    environment) over them.

    Raises :class:`~aixgo.errors.ConfigError` for an exporter, protocol or rate aixgo does not know."""
    env = os.environ if env is None else env
    if isinstance(config, Mapping):
        block: Mapping[str, Any] = config
    elif config is None:
        block = {}
    else:
        block = {name: getattr(config, name) for name in getattr(config, "__dataclass_fields__", {})}
        block = {key: value for key, value in block.items() if value is not None}
    if _flag(env, "OTEL_SDK_DISABLED"):
        return TelemetrySettings()
    traces = _exporter(env, "OTEL_TRACES_EXPORTER", TRACES_EXPORTERS)
    endpoint_in_env = any(env.get(name) for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    switch = _flag(env, "OTEL_TRACES_ENABLED")
    enabled = bool(block.get("tracing", False))
    if traces is not None or endpoint_in_env:
        enabled = traces != "none"
    if switch is not None:
        enabled = switch
    exporter = traces or {"stdout": "console"}.get(str(block.get("exporter", "otlp")), str(block.get("exporter", "otlp")))
    if exporter == "none":
        enabled = False
    metrics = _exporter(env, "OTEL_METRICS_EXPORTER", METRICS_EXPORTERS)
    if metrics is None:
        metrics = ("otlp" if exporter == "otlp" else "none") if block.get("metrics", True) else "none"
    protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or str(block.get("protocol", "http/protobuf"))).strip().lower()
    if protocol not in PROTOCOLS:
        raise ConfigError(f"OTLP protocol {protocol!r} is not supported: use {' or '.join(PROTOCOLS)}")
    service = env.get("OTEL_SERVICE_NAME") or _service_from_resource(env) or block.get("service_name")
    rate = block.get("sampling_rate")
    capture = _flag(env, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
    return TelemetrySettings(
        enabled=enabled,
        traces_exporter=exporter,
        metrics_exporter=metrics,
        endpoint=block.get("endpoint") or None,
        protocol=protocol,
        headers={str(k): str(v) for k, v in (block.get("headers") or {}).items()},
        service_name=str(service or DEFAULT_SERVICE_NAME),
        sampling_rate=None if rate is None or env.get("OTEL_TRACES_SAMPLER") else _rate(rate, "observability.sampling_rate"),
        capture_content=bool(block.get("capture_content", False)) if capture is None else capture,
        store_span_ms=float(block.get("store_span_ms", DEFAULT_STORE_SPAN_MS)),
    )


def _service_from_resource(env: Mapping[str, str]) -> str | None:
    for key, value in parse_headers(env.get("OTEL_RESOURCE_ATTRIBUTES", "")).items():
        if key == "service.name" and value:
            return value
    return None


__all__ = [
    "DEFAULT_SERVICE_NAME",
    "DEFAULT_STORE_SPAN_MS",
    "METRICS_EXPORTERS",
    "PROTOCOLS",
    "TRACES_EXPORTERS",
    "TelemetrySettings",
    "parse_headers",
    "resolve_settings",
]
