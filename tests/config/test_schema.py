"""The JSON Schema: valid, documented, shipped in the package, and in step with the typed model."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from aixgo.config import (
    AgentConfig,
    CheckpointConfig,
    LLMConfig,
    RedisConfig,
    SessionConfig,
    load_schema,
    schema_text,
)
from aixgo.config.schema import subschema

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "schemas" / "aixgo.schema.json"


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(SOURCE.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_shipped_copy_is_byte_identical() -> None:
    shipped = resources.files("aixgo").joinpath("schemas/aixgo.schema.json")
    assert shipped.read_bytes() == SOURCE.read_bytes(), (
        "aixgo/schemas/aixgo.schema.json is out of date: cp schemas/aixgo.schema.json aixgo/schemas/"
    )
    assert schema_text() == SOURCE.read_text(encoding="utf-8")
    assert load_schema() == json.loads(SOURCE.read_text())


def _properties(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for keyword in ("properties", "patternProperties"):
            for name, prop in node.get(keyword, {}).items():
                yield f"{where}.{name}", prop
        for key, value in node.items():
            yield from _properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _properties(value, f"{where}[{index}]")


def test_every_property_has_a_description() -> None:
    props = list(_properties(load_schema()))
    assert len(props) >= 35
    missing = [where for where, prop in props if not str(prop.get("description", "")).strip()]
    assert missing == []


def test_every_ref_resolves() -> None:
    schema = load_schema()
    refs = re.findall(r'"\$ref": "#/\$defs/(\w+)"', SOURCE.read_text())
    assert refs
    assert all(ref in schema["$defs"] for ref in refs)


def test_examples_are_valid() -> None:
    schema = load_schema()
    checked = 0
    for node in _nodes(schema):
        for example in node.get("examples", []):
            if "${" in str(example):
                continue
            bare = {k: v for k, v in node.items() if k not in ("examples", "title", "description")}
            resolved = {"$defs": schema["$defs"], **bare}
            assert Draft202012Validator(resolved).is_valid(example), (node.get("title"), example)
            checked += 1
    assert checked >= 10


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


@pytest.mark.parametrize(
    ("path", "model"),
    [
        (("session",), SessionConfig),
        (("session", "redis"), RedisConfig),
        (("session", "checkpoint"), CheckpointConfig),
        (("llm",), LLMConfig),
        (("agents", 0), AgentConfig),
    ],
)
def test_schema_sections_match_the_model(path: tuple[str | int, ...], model: type) -> None:
    section = subschema(path)
    assert section is not None
    fields = {field.name: field for field in dataclasses.fields(model)}
    assert set(section["properties"]) == set(fields)
    for name, prop in section["properties"].items():
        resolved = subschema((*path, name))
        assert resolved is not None
        if "default" not in prop:
            continue
        field = fields[name]
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()  # type: ignore[operator,misc,unused-ignore]
        if name == "base_dir":
            assert default == Path(prop["default"]).expanduser()
        else:
            assert default == prop["default"], name


def test_optional_model_fields_are_documented_as_optional() -> None:
    agent = subschema(("agents", 0))
    assert agent is not None
    required = set(agent["required"])
    no_default = {
        f.name
        for f in dataclasses.fields(AgentConfig)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert required == no_default == {"name", "model"}
