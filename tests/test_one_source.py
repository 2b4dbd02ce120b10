"""One place for every enumeration and every default: each ``Literal`` enumeration is defined once in
the package, the schema's enumerations and defaults are the code's, and the command line offers the
same choices (issue 21, item 12: ``StoreKind`` existed three times with different members, the lease
TTL default was 60 s in one module and 300 s in another)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

from aixgo.config import model
from aixgo.config.durations import parse_duration
from aixgo.config.schema import schema_text

PACKAGE = Path(__file__).resolve().parents[1] / "aixgo"
SCHEMA: dict[str, Any] = json.loads(schema_text())


def literal_aliases() -> Iterator[tuple[str, str, frozenset[str]]]:
    """(module file, alias name, members) of every ``Name = Literal[...]`` in the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, ast.Subscript) and isinstance(node.value.value, ast.Name)
                    and node.value.value.id == "Literal"):
                members = [e.value for e in ast.walk(node.value.slice) if isinstance(e, ast.Constant)]
                yield str(path.relative_to(PACKAGE.parent)), node.targets[0].id, frozenset(map(str, members))


def test_every_enumeration_is_defined_once() -> None:
    seen: dict[str, str] = {}
    twice = []
    for where, name, _ in literal_aliases():
        if name in seen:
            twice.append(f"{name}: {seen[name]} and {where}")
        seen[name] = where
    assert twice == []


def schema_enums(node: Any = SCHEMA, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], list[Any]]]:
    if isinstance(node, dict):
        if "enum" in node:
            yield path, node["enum"]
        for key, value in node.items():
            yield from schema_enums(value, path if key in ("properties", "$defs") else (*path, key))
    elif isinstance(node, list):
        for value in node:
            yield from schema_enums(value, path)


def code_enums() -> dict[tuple[str, ...], Any]:
    from aixgo.agents.context.budget import Strategy
    from aixgo.agents.spec import OnMaxSteps, ReactFormat
    from aixgo.agents.tools.mcp.spec import Transport
    from aixgo.config.mcp import MCPAuthType
    from aixgo.llm.factory import Provider
    from aixgo.llm.protocol import ToolChoiceMode
    from aixgo.observability.settings import ExporterName, OtlpProtocol
    from aixgo.session.file import FsyncPolicy
    from aixgo.session.stores import DurableStoreKind

    return {
        ("observability", "exporter"): ExporterName,
        ("observability", "protocol"): OtlpProtocol,
        ("mcp_server", "transport"): Transport,
        ("mcp_auth", "type"): MCPAuthType,
        ("session", "store"): DurableStoreKind,
        ("session", "fsync"): FsyncPolicy,
        ("llm", "provider"): Provider,
        ("agent", "role"): model.AgentRole,
        ("agent", "tool_choice", "anyOf"): ToolChoiceMode,
        ("agent", "on_max_steps"): OnMaxSteps,
        ("agent", "context", "strategy"): Strategy,
        ("agent", "session_mode"): model.SessionMode,
        ("agent", "react_format"): ReactFormat,
        ("server", "api_keys", "items", "oneOf", "role"): model.KeyRole,
    }


def test_the_schemas_enumerations_are_the_codes() -> None:
    expected = {path: sorted(get_args(alias)) for path, alias in code_enums().items()}
    assert {path: sorted(values) for path, values in schema_enums()} == expected


def test_the_config_model_uses_the_owners_enumerations() -> None:
    from aixgo.agents.context.budget import Strategy
    from aixgo.agents.spec import OnMaxSteps, ReactFormat
    from aixgo.agents.tools.mcp.spec import Transport
    from aixgo.config import mcp
    from aixgo.llm.factory import PROVIDERS, Provider
    from aixgo.runtime import SESSION_MODES
    from aixgo.session.file import FsyncPolicy
    from aixgo.session.stores import DurableStoreKind, StoreKind

    assert mcp.MCPTransport is Transport
    assert model.StoreKind is DurableStoreKind and model.FsyncPolicy is FsyncPolicy
    assert model.ReactFormat is ReactFormat and model.OnMaxSteps is OnMaxSteps
    assert model.ContextStrategy is Strategy and model.Provider is Provider
    assert set(get_args(StoreKind)) == {*get_args(DurableStoreKind), "memory"}
    assert get_args(Provider) == PROVIDERS and get_args(model.SessionMode) == SESSION_MODES


def test_the_command_line_offers_the_store_kinds() -> None:
    from aixgo.cli.sessions import sessions
    from aixgo.session.stores import DurableStoreKind

    option = next(p for p in sessions.params if p.name == "store")
    assert tuple(option.type.choices) == get_args(DurableStoreKind)  # type: ignore[attr-defined]


def sections() -> dict[tuple[str, ...], tuple[type, ...]]:
    """Schema object -> the classes whose defaults it documents: the config class, then (where the config
    leaves a setting at None, "the store's default") the store's options."""
    from aixgo.session.postgres.options import PostgresOptions
    from aixgo.session.redis import RedisOptions

    return {
        ("server",): (model.ServerConfig,),
        ("observability",): (model.ObservabilityConfig,),
        ("session",): (model.SessionConfig,),
        ("redis",): (model.RedisConfig, RedisOptions),
        ("postgres",): (model.PostgresConfig, PostgresOptions),
        ("checkpoint",): (model.CheckpointConfig,),
        ("llm",): (model.LLMConfig,),
        ("agent",): (model.AgentConfig,),
        ("agent", "context"): (model.ContextConfig,),
    }


def schema_defaults() -> Iterator[tuple[tuple[str, ...], str, Any]]:
    def walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str, Any]]:
        if isinstance(node, dict):
            for key, value in (node.get("properties") or {}).items():
                if isinstance(value, dict) and "default" in value:
                    yield path, key, value["default"]
                yield from walk(value, (*path, key))
            for key, value in (node.get("$defs") or {}).items():
                yield from walk(value, (key,))

    yield from walk(SCHEMA, ())


def code_default(classes: tuple[type, ...], name: str) -> Any:
    for cls in classes:
        field = next(f for f in dataclasses.fields(cls) if f.name == name)
        if field.default is not dataclasses.MISSING:
            value = field.default
        else:
            assert field.default_factory is not dataclasses.MISSING, f"{cls.__name__}.{name} has no default"
            value = field.default_factory()
        if value is not None:
            return value
    return None


@pytest.mark.parametrize(("path", "key", "documented"), list(schema_defaults()),
                         ids=lambda v: ".".join(v) if isinstance(v, tuple) else str(v))
def test_the_schemas_defaults_are_the_codes(path: tuple[str, ...], key: str, documented: Any) -> None:
    actual = code_default(sections()[path], key)
    if isinstance(documented, str) and isinstance(actual, float):  # a duration
        documented = parse_duration(documented).total_seconds()
    if isinstance(actual, Path):
        documented = Path(documented).expanduser()
    if isinstance(actual, tuple):
        documented = tuple(documented)
    assert actual == documented


def test_the_redis_stores_defaults_are_the_configs() -> None:
    from aixgo.session.redis import RedisOptions

    assert RedisOptions().key_prefix == model.DEFAULT_KEY_PREFIX == model.RedisConfig().key_prefix


def test_one_default_lease_ttl() -> None:
    from aixgo.runtime import Runtime
    from aixgo.session import Session

    session_default = inspect.signature(Session.lease).parameters["ttl"].default
    assert Runtime().lease_ttl == session_default
    assert inspect.signature(Session.alease).parameters["ttl"].default == session_default
