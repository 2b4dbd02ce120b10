"""Which telemetry a config and the ``OTEL_*`` variables ask for: off unless asked, the environment
over the file, the Go aixgo's keys accepted with a warning, and clear errors for what is unknown."""

from __future__ import annotations

import pytest

from aixgo.config import parse_config
from aixgo.errors import ConfigError
from aixgo.observability import resolve_settings

AGENTS = "agents: [{name: bot, model: m}]\n"


def settings(yaml: str, env: dict[str, str] | None = None) -> object:
    return resolve_settings(parse_config(yaml + AGENTS, env={}).observability, env or {})


def test_tracing_is_off_unless_asked_for() -> None:
    assert not resolve_settings(None, {}).enabled
    assert not settings("observability: {service_name: x}\n").enabled  # type: ignore[attr-defined]
    assert resolve_settings(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}).enabled
    assert resolve_settings(None, {"OTEL_TRACES_EXPORTER": "console"}).traces_exporter == "console"
    assert resolve_settings(None, {"OTEL_TRACES_ENABLED": "true"}).enabled  # the Go aixgo's switch


def test_the_environment_overrides_the_file() -> None:
    yaml = "observability: {tracing: true, service_name: from-file, sampling_rate: 0.5, exporter: console}\n"
    from_file = settings(yaml)
    assert (from_file.enabled, from_file.service_name, from_file.sampling_rate) == (True, "from-file", 0.5)  # type: ignore[attr-defined]
    env = {"OTEL_SERVICE_NAME": "from-env", "OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_EXPORTER": "otlp",
           "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}
    overridden = settings(yaml, env)
    assert overridden.service_name == "from-env" and overridden.sampling_rate is None  # type: ignore[attr-defined]
    assert overridden.traces_exporter == "otlp" and overridden.capture_content  # type: ignore[attr-defined]
    assert not settings(yaml, {"OTEL_TRACES_EXPORTER": "none"}).enabled  # type: ignore[attr-defined]
    assert not settings(yaml, {"OTEL_SDK_DISABLED": "true"}).enabled  # type: ignore[attr-defined]
    assert not settings(yaml, {"OTEL_TRACES_ENABLED": "false"}).enabled  # type: ignore[attr-defined]


def test_metrics_follow_the_otlp_exporter_unless_turned_off() -> None:
    assert settings("observability: {tracing: true}\n").metrics_exporter == "otlp"  # type: ignore[attr-defined]
    assert settings("observability: {tracing: true, metrics: false}\n").metrics_exporter == "none"  # type: ignore[attr-defined]
    assert settings("observability: {tracing: true, exporter: stdout}\n").metrics_exporter == "none"  # type: ignore[attr-defined]
    assert settings("observability: {tracing: true}\n", {"OTEL_METRICS_EXPORTER": "console"}).metrics_exporter == "console"  # type: ignore[attr-defined]


def test_headers_never_show_in_repr() -> None:
    config = parse_config("observability: {tracing: true, headers: {x-api-key: hunter2-secret}}\n" + AGENTS, env={})
    assert "hunter2" not in repr(config) and "hunter2" not in repr(resolve_settings(config.observability, {}))
    assert resolve_settings(config.observability, {}).headers == {"x-api-key": "hunter2-secret"}


def test_the_go_aixgo_keys_load_with_a_warning_each() -> None:
    yaml = ("observability:\n  tracing: true\n  exporter: otlp\n  endpoint: 'localhost:4317'\n  sampling_rate: 0.2\n"
            "  metrics: true\n  metrics_port: 9090\n  health_port: 8080\n  debug: true\n  span_timeout: 60s\n"
            "  llm_observability: {enabled: true, provider: langfuse}\n")
    config = parse_config(yaml + AGENTS, path="cfg.yaml", env={})
    warned = "\n".join(config.warnings)
    for key in ("metrics_port", "health_port", "debug", "span_timeout", "llm_observability"):
        assert f"observability.{key}: {key} has no effect" in warned
    assert config.observability.endpoint == "localhost:4317" and config.observability.sampling_rate == 0.2


def test_settings_without_tracing_true_are_a_warning() -> None:
    config = parse_config("observability: {endpoint: 'http://collector:4318'}\n" + AGENTS, path="cfg.yaml", env={})
    assert any("endpoint has no effect without tracing: true" in w for w in config.warnings)


@pytest.mark.parametrize(("yaml", "found"), [
    ("observability: {tracing: true, exporter: datadog}\n", "datadog"),
    ("observability: {tracing: true, sampling_rate: 2}\n", "2"),
    ("observability: {tracng: true}\n", "did you mean 'tracing'?"),
])
def test_unknown_values_are_config_errors(yaml: str, found: str) -> None:
    with pytest.raises(ConfigError, match="observability") as info:
        parse_config(yaml + AGENTS, path="cfg.yaml", env={})
    assert found in str(info.value)


def test_unknown_otel_values_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER='zipkin'"):
        resolve_settings(None, {"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ConfigError, match="not a boolean"):
        resolve_settings(None, {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "maybe"})
    with pytest.raises(ConfigError, match="protocol 'http/json'"):
        resolve_settings(None, {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
