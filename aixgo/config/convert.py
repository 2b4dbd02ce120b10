"""Checks the schema cannot express, and turning validated data into :mod:`aixgo.config.model` objects.

:func:`semantic_problems` tolerates data that failed the schema (it only looks at values of the
right type), so one run reports schema and semantic problems together. :func:`to_config` assumes
data without problems.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import MISSING, fields
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aixgo.config.durations import parse_duration
from aixgo.config.mcp import agent_mcp_keys, approval_setting, mcp_problems, to_mcp_servers
from aixgo.config.model import (
    AgentConfig,
    ApiKey,
    CheckpointConfig,
    Config,
    ContextConfig,
    LLMConfig,
    ObservabilityConfig,
    PostgresConfig,
    RedisConfig,
    ServerConfig,
    SessionConfig,
)
from aixgo.config.problems import JsonPath, Problem, did_you_mean
from aixgo.config.source import Marks
from aixgo.errors import InvalidSessionIdError
from aixgo.observability.settings import DEFAULT_SERVICE_NAME
from aixgo.session.ids import MAX_ID_BYTES, validate_id
from aixgo.session.stores import DEFAULT_BASE_DIR, DEFAULT_POSTGRES, DEFAULT_REDIS

_SHORTEST = timedelta(milliseconds=1)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_duration_value(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _llm_blocks(data: dict[str, Any]) -> Iterator[tuple[JsonPath, dict[str, Any]]]:
    yield ("llm",), _mapping(data.get("llm"))
    agents = data.get("agents")
    if isinstance(agents, list):
        for index, agent in enumerate(agents):
            yield ("agents", index, "llm"), _mapping(_mapping(agent).get("llm"))


def semantic_problems(data: Any, marks: Marks) -> list[Problem]:
    """Problems beyond the schema: agent names, durations, settings that would silently do nothing."""
    if not isinstance(data, dict):
        return []
    problems: list[Problem] = []
    problems.extend(_agent_name_problems(data, marks))
    problems.extend(_duration_problems(data, marks))
    problems.extend(_session_problems(_mapping(data.get("session")), marks))
    problems.extend(_script_problems(data, marks))
    problems.extend(_tool_problems(data, marks))
    problems.extend(_context_problems(data, marks))
    problems.extend(mcp_problems(data, marks))
    return problems


def _context_problems(data: dict[str, Any], marks: Marks) -> Iterator[Problem]:
    """What the agent's context budget refuses (``reserve`` not below half the ``window``, …): its own rule
    (``ContextSettings.check``), run here so that validate, run and serve report it with file and line."""
    agents = data.get("agents")
    for index, agent in enumerate(agents if isinstance(agents, list) else []):
        block = _mapping(agent).get("context")
        if not isinstance(block, dict) or not block:
            continue
        from aixgo.agents.context.budget import ContextSettings  # noqa: PLC0415 - only for a context block
        from aixgo.errors import AgentError  # noqa: PLC0415

        def number(key: str, block: dict[str, Any] = block) -> int | None:
            value = block.get(key)
            return value if type(value) is int else None  # any other type is the schema's to report

        text = {key: block[key] for key in ("strategy", "summarizer") if isinstance(block.get(key), str)}
        settings = ContextSettings(window=number("window"), reserve=number("reserve"),
                                   summary_tokens=number("summary_tokens"), **text)
        try:
            settings.check(str(_mapping(agent).get("name")))
        except AgentError as exc:
            message = str(exc)
            field = re.search(r"context\.(\w+)", message)
            path: JsonPath = ("agents", index, "context", *((field.group(1),) if field else ()))
            yield Problem(path, message, "see docs/config.md, agents[].context", marks.value(path))


BUILTIN_TOOL_NAMES = ("calculator", "current_time")
"""The built-in tools (``aixgo.agents.BUILTIN_TOOLS``; a test keeps the two in step), named here so
that loading a config does not import the agents."""


def _tool_problems(data: dict[str, Any], marks: Marks) -> Iterator[Problem]:
    """A tool name without ``module:`` that is not a built-in: what ``run`` would refuse."""
    agents = data.get("agents")
    for index, agent in enumerate(agents if isinstance(agents, list) else []):
        tools = _mapping(agent).get("tools")
        for number, name in enumerate(tools if isinstance(tools, list) else []):
            if not isinstance(name, str) or not name.isidentifier() or name in BUILTIN_TOOL_NAMES:  # else: the schema
                continue
            path: JsonPath = ("agents", index, "tools", number)
            guess = did_you_mean(name, BUILTIN_TOOL_NAMES)
            hint = f"did you mean {guess!r}?" if guess else (
                f"built-in tools are {', '.join(BUILTIN_TOOL_NAMES)}; your own functions are written "
                "package.module:function, an MCP server's tools SERVER/TOOL")
            yield Problem(path, f"unknown tool {name!r}", hint, marks.value(path))


def _agent_name_problems(data: dict[str, Any], marks: Marks) -> Iterator[Problem]:
    agents = data.get("agents")
    if not isinstance(agents, list):
        return
    first: dict[str, int] = {}
    for index, agent in enumerate(agents):
        name = _mapping(agent).get("name")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_ID_BYTES:
            continue  # the schema reports it
        path: JsonPath = ("agents", index, "name")
        try:
            validate_id(name, "agent name")
        except InvalidSessionIdError as exc:
            yield Problem(path, str(exc),
                          "an agent's name also names its folder of sessions: use letters, digits, '-', '_'",
                          marks.value(path))
            continue
        if name in first:
            where = marks.value(("agents", first[name], "name"))
            at = f" at line {where.line}" if where else ""
            yield Problem(path, f"duplicate agent name {name!r}",
                          f"agent names must be unique: agents[{first[name]}]{at} is already called {name!r}",
                          marks.value(path))
        else:
            first[name] = index


def _duration_problems(data: dict[str, Any], marks: Marks) -> Iterator[Problem]:
    session = _mapping(data.get("session"))
    redis = _mapping(session.get("redis"))
    candidates: list[tuple[JsonPath, Any]] = [
        (("session", "ttl"), session.get("ttl")),
        (("session", "checkpoint", "interval"), _mapping(session.get("checkpoint")).get("interval")),
        (("session", "redis", "socket_timeout"), redis.get("socket_timeout")),
        (("session", "redis", "connect_timeout"), redis.get("connect_timeout")),
        (("server", "header_timeout"), _mapping(data.get("server")).get("header_timeout")),
    ]
    postgres = _mapping(session.get("postgres"))
    candidates += [
        (("session", "postgres", key), postgres.get(key))
        for key in ("pool_timeout", "connect_timeout", "statement_timeout")
    ]
    candidates.extend(((*path, "timeout"), block.get("timeout")) for path, block in _llm_blocks(data))
    servers = data.get("mcp_servers")
    for index, server in enumerate(servers if isinstance(servers, list) else []):
        for key in ("timeout", "connect_timeout"):
            candidates.append((("mcp_servers", index, key), _mapping(server).get(key)))
    for path, value in candidates:
        if not _is_duration_value(value):
            continue
        try:
            duration = parse_duration(value)
        except ValueError as exc:
            if "too large" in str(exc):  # anything else malformed is reported by the schema
                yield Problem(path, str(exc), "use a smaller duration", marks.value(path))
            continue
        if duration < _SHORTEST:
            yield Problem(path, f"expected a duration of at least 1ms, found {value!r}",
                          "remove the key to use the default", marks.value(path))


def _session_problems(session: dict[str, Any], marks: Marks) -> Iterator[Problem]:
    if "ttl" in session and session.get("store", _default(SessionConfig, "store")) == "file":
        yield Problem(("session", "ttl"), "ttl is only supported by the redis and postgres stores",
                      "file sessions never expire on their own: delete old ones with "
                      "`aixgo sessions prune --older-than 30d`, or set store: redis or postgres",
                      marks.key(("session", "ttl")))
    redis = _mapping(session.get("redis"))
    if "addr" in redis and "url" in redis:
        yield Problem(("session", "redis", "url"), "set either addr or url, not both",
                      "keep url (it can carry the password and db) or addr (host:port)",
                      marks.key(("session", "redis", "url")))
    url = redis.get("url")
    if isinstance(url, str):
        yield from _url_conflicts(url, redis, marks)
        if url.startswith(("redis://", "rediss://", "unix://")):  # any other form is the schema's to report
            yield from _address_problems(url, ("session", "redis", "url"), marks)


def _address_problems(target: str, path: JsonPath, marks: Marks) -> Iterator[Problem]:
    """What the Redis store would refuse in an address the schema let through (``/abc`` as database)."""
    from aixgo.session.redis.connection import describe_target  # noqa: PLC0415 - loads redis-py only here

    try:
        describe_target(target)
    except ValueError as exc:
        yield Problem(path, f"not a Redis address: {exc}",
                      "write redis://[:password@]host:port/db, rediss://… or unix:///path.sock",
                      marks.value(path))


def _url_conflicts(url: str, redis: dict[str, Any], marks: Marks) -> Iterator[Problem]:
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return  # the schema or the backend reports a malformed URL
    has_db = parts.scheme in ("redis", "rediss") and parts.path.strip("/") != ""
    for key, in_url in (("password", has_password), ("db", has_db)):
        if key in redis and in_url:
            path: JsonPath = ("session", "redis", key)
            yield Problem(path, f"the url already sets the {'password' if key == 'password' else 'database'}",
                          f"remove {key}: here, or remove it from the url", marks.key(path))


def _script_problems(data: dict[str, Any], marks: Marks) -> Iterator[Problem]:
    top = _mapping(data.get("llm"))
    providers: list[Any] = []
    for path, block in _llm_blocks(data):
        provider = block.get("provider", top.get("provider", _default(LLMConfig, "provider")))
        providers.append(provider)
        if path != ("llm",) and "script" in block and provider != "scripted":
            yield _script_problem((*path, "script"), marks)
    if "script" in top and "scripted" not in providers:
        yield _script_problem(("llm", "script"), marks)


def _script_problem(path: JsonPath, marks: Marks) -> Problem:
    return Problem(path, "script is only used by the scripted provider",
                   "add 'provider: scripted' to this llm block, or remove script", marks.key(path))


# -- building the model ------------------------------------------------------------------------


def semantic_warnings(data: Any, marks: Marks) -> list[Problem]:
    """Settings that are valid but have no effect (reported by ``aixgo validate``, not refused)."""
    if not isinstance(data, dict):
        return []
    session = _mapping(data.get("session"))
    warnings: list[Problem] = []
    checkpoint = _mapping(session.get("checkpoint"))
    if "interval" in checkpoint and checkpoint.get("auto_save") is not True:
        warnings.append(Problem(("session", "checkpoint", "interval"), "interval has no effect without auto_save: true",
                                "add 'auto_save: true' to session.checkpoint, or remove interval",
                                marks.key(("session", "checkpoint", "interval"))))
    if session.get("enabled") is False:
        for key in ("store", "base_dir", "redis", "postgres", "checkpoint", "ttl"):
            if key in session:
                warnings.append(Problem(("session", key), f"{key} has no effect with enabled: false",
                                        "agents run without memory: remove enabled: false to use the store",
                                        marks.key(("session", key))))
    warnings.extend(_observability_warnings(_mapping(data.get("observability")), marks))
    agents = data.get("agents")
    for index, raw_agent in enumerate(agents if isinstance(agents, list) else []):
        agent = _mapping(raw_agent)
        if agent.get("session_mode") == "disabled" and "context" in agent:
            warnings.append(Problem(("agents", index, "context"), "context has no effect with session_mode: disabled",
                                    "a stateless agent sends only the current turn", marks.key(("agents", index, "context"))))
    return warnings


GO_ONLY_OBSERVABILITY = {
    "metrics_port": "aixgo exports metrics over OTLP (metrics: true), not on a Prometheus port: point an "
                    "OpenTelemetry Collector with a Prometheus exporter at it",
    "health_port": "aixgo serve answers /healthz and /readyz on its own port",
    "llm_observability": "send OTLP to your LLM-observability backend instead (endpoint and headers; "
                         "Langfuse: its /api/public/otel endpoint)",
    "debug": "use exporter: console (or aixgo run --trace) to see spans locally",
    "span_timeout": "spans end when their step ends",
}
"""Keys of the Go aixgo's ``observability:`` block that load but do nothing here, and what to do instead."""


def _observability_warnings(block: dict[str, Any], marks: Marks) -> Iterator[Problem]:
    for key, hint in GO_ONLY_OBSERVABILITY.items():
        if key in block:
            path: JsonPath = ("observability", key)
            yield Problem(path, f"{key} has no effect in this aixgo", hint, marks.key(path))
    settings = [key for key in ("exporter", "endpoint", "protocol", "headers", "sampling_rate", "service_name")
                if key in block]
    if settings and block.get("tracing") is not True:
        path = ("observability", settings[0])
        yield Problem(path, f"{settings[0]} has no effect without tracing: true",
                      "add 'tracing: true' to observability (or set OTEL_TRACES_EXPORTER / "
                      "OTEL_EXPORTER_OTLP_ENDPOINT)", marks.key(path))


def to_config(data: dict[str, Any], path: Path, base: Path) -> Config:
    """Typed config from schema-valid, problem-free ``data``; relative paths are resolved against ``base``."""
    top_llm = _mapping(data.get("llm"))
    return Config(
        path=path,
        session=_session(_mapping(data.get("session")), base),
        llm=_llm(top_llm),
        agents=[_agent(_mapping(agent), top_llm) for agent in data.get("agents") or []],
        server=_server(_mapping(data.get("server"))),
        mcp_servers=to_mcp_servers(data.get("mcp_servers") or [], lambda text: resolve_path(text, base), _seconds),
        observability=_observability(_mapping(data.get("observability"))),
    )


def _observability(raw: dict[str, Any]) -> ObservabilityConfig:
    rate = raw.get("sampling_rate")
    return ObservabilityConfig(
        tracing=bool(raw.get("tracing", False)),
        service_name=raw.get("service_name") or DEFAULT_SERVICE_NAME,
        exporter={"stdout": "console"}.get(raw.get("exporter", "otlp"), raw.get("exporter", "otlp")),
        endpoint=raw.get("endpoint") or None,
        protocol=raw.get("protocol", "http/protobuf"),
        headers={str(key): str(value) for key, value in _mapping(raw.get("headers")).items()},
        sampling_rate=float(rate) if rate is not None else 1.0,
        metrics=bool(raw.get("metrics", True)),
        capture_content=bool(raw.get("capture_content", False)),
        store_span_ms=float(raw.get("store_span_ms", 5.0)),
    )


def _server(raw: dict[str, Any]) -> ServerConfig:
    return ServerConfig(
        api_keys=tuple(_api_key(item) for item in raw.get("api_keys") or () if item),
        max_request_kb=raw.get("max_request_kb", _default(ServerConfig, "max_request_kb")),
        header_timeout=_seconds(raw.get("header_timeout")) or _default(ServerConfig, "header_timeout"),
        max_connections=raw.get("max_connections", _default(ServerConfig, "max_connections")),
    )


def _api_key(item: str | dict[str, Any]) -> ApiKey:
    """An entry of ``server.api_keys``: a plain key is an admin's; ``role`` defaults to ``user`` when the entry
    names a user."""
    if isinstance(item, str):
        return ApiKey(item)
    user = item.get("user")
    return ApiKey(item["key"], user, item.get("role", "user" if user else "admin"))


def resolve_path(text: str, base: Path) -> Path:
    """``~`` expanded; a relative path joined to ``base``; ``.``/``..`` collapsed. Touches no file."""
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        path = base / path
    return Path(os.path.normpath(path))


def _default(cls: type, name: str) -> Any:
    """The default of field ``name`` of the config class ``cls``: config defaults are written once, in
    :mod:`aixgo.config.model` (and tests/test_one_source.py checks the schema's against them)."""
    field = next(item for item in fields(cls) if item.name == name)
    if field.default is not MISSING:
        return field.default
    assert field.default_factory is not MISSING, f"{cls.__name__}.{name} has no default"
    return field.default_factory()


def _seconds(value: Any) -> float | None:
    return None if value is None else parse_duration(value).total_seconds()


def _duration(value: Any) -> timedelta | None:
    return None if value is None else parse_duration(value)


def _session(raw: dict[str, Any], base: Path) -> SessionConfig:
    store = raw.get("store", _default(SessionConfig, "store"))
    redis_raw = raw.get("redis")
    redis = _redis(_mapping(redis_raw)) if redis_raw is not None or store == "redis" else None
    postgres_raw = raw.get("postgres")
    postgres = _postgres(_mapping(postgres_raw)) if postgres_raw is not None or store == "postgres" else None
    checkpoint = _mapping(raw.get("checkpoint"))
    return SessionConfig(
        enabled=raw.get("enabled", _default(SessionConfig, "enabled")),
        store=store,
        base_dir=resolve_path(raw.get("base_dir") or DEFAULT_BASE_DIR, base),  # "" means the default
        fsync=raw.get("fsync", _default(SessionConfig, "fsync")),
        lock_timeout=_duration(raw.get("lock_timeout")),
        cache_mb=raw.get("cache_mb"),
        ttl=_duration(raw.get("ttl")),
        redis=redis,
        postgres=postgres,
        checkpoint=CheckpointConfig(
            auto_save=checkpoint.get("auto_save", _default(CheckpointConfig, "auto_save")),
            interval=_duration(checkpoint.get("interval")),
        ),
    )


def _redis(raw: dict[str, Any]) -> RedisConfig:
    url = raw.get("url")
    addr = raw.get("addr")
    if url is None:
        addr = addr or DEFAULT_REDIS
        if not addr.rsplit("]", 1)[-1].count(":"):
            addr += ":6379"
    return RedisConfig(
        addr=addr,
        url=url,
        password=raw.get("password") or None,  # "" (e.g. ${REDIS_PASSWORD:-}) means no password
        db=raw.get("db"),
        key_prefix=raw.get("key_prefix", _default(RedisConfig, "key_prefix")),
        pool_size=raw.get("pool_size"),
        socket_timeout=_seconds(raw.get("socket_timeout")),
        connect_timeout=_seconds(raw.get("connect_timeout")),
        retries=raw.get("retries"),
        allow_eviction=bool(raw.get("allow_eviction", _default(RedisConfig, "allow_eviction"))),
        cluster=bool(raw.get("cluster", _default(RedisConfig, "cluster"))),
        min_replica_acks=int(raw.get("min_replica_acks", _default(RedisConfig, "min_replica_acks"))),
        replica_ack_timeout=_seconds(raw.get("replica_ack_timeout")),
    )


def _postgres(raw: dict[str, Any]) -> PostgresConfig:
    return PostgresConfig(
        url=raw.get("url") or DEFAULT_POSTGRES,
        schema=raw.get("schema"),
        pool_size=raw.get("pool_size"),
        pool_max=raw.get("pool_max"),
        pool_timeout=_seconds(raw.get("pool_timeout")),
        connect_timeout=_seconds(raw.get("connect_timeout")),
        statement_timeout=_seconds(raw.get("statement_timeout")),
        retries=raw.get("retries"),
        prepared_statements=raw.get("prepared_statements"),
        auto_migrate=raw.get("auto_migrate"),
    )


def _llm(raw: dict[str, Any]) -> LLMConfig:
    script = raw.get("script")
    return LLMConfig(
        provider=raw.get("provider", _default(LLMConfig, "provider")),
        base_url=raw.get("base_url"),
        api_key=raw.get("api_key") or None,
        timeout=_seconds(raw.get("timeout")),
        max_retries=raw.get("max_retries"),
        script=list(script) if script is not None else None,
    )


def _agent(raw: dict[str, Any], top_llm: dict[str, Any]) -> AgentConfig:
    temperature = raw.get("temperature")
    return AgentConfig(
        name=raw["name"],
        model=raw["model"],
        role=raw.get("role", _default(AgentConfig, "role")),
        prompt=raw.get("prompt", _default(AgentConfig, "prompt")),
        tools=list(raw.get("tools") or []),
        max_steps=raw.get("max_steps", _default(AgentConfig, "max_steps")),
        on_max_steps=raw.get("on_max_steps", _default(AgentConfig, "on_max_steps")),
        max_tokens=raw.get("max_tokens"),
        top_p=float(raw["top_p"]) if raw.get("top_p") is not None else None,
        stop=[raw["stop"]] if isinstance(raw.get("stop"), str) else list(raw.get("stop") or []),
        seed=raw.get("seed"),
        tool_choice=raw.get("tool_choice"),
        extra_body=dict(raw.get("extra_body") or {}),
        temperature=float(temperature) if temperature is not None else None,
        max_history_messages=raw.get("max_history_messages"),
        react_format=raw.get("react_format", _default(AgentConfig, "react_format")),
        llm=_llm({**top_llm, **_mapping(raw.get("llm"))}),
        context=_context(_mapping(raw.get("context"))),
        session_mode=raw.get("session_mode", _default(AgentConfig, "session_mode")),
        require_approval=approval_setting(raw.get("require_approval")),
        **agent_mcp_keys(raw),
    )


def _context(raw: dict[str, Any]) -> ContextConfig:
    return ContextConfig(
        window=raw.get("window"),
        reserve=raw.get("reserve"),
        strategy=raw.get("strategy", _default(ContextConfig, "strategy")),
        summarizer=raw.get("summarizer"),
        summary_tokens=raw.get("summary_tokens"),
    )


__all__ = ["resolve_path", "semantic_problems", "semantic_warnings", "to_config"]
