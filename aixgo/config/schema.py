"""The JSON Schema of aixgo config files, and its validation errors turned into readable problems.

The schema (``schemas/aixgo.schema.json`` in the repository) ships inside the package as
``aixgo/schemas/aixgo.schema.json``, so an installed aixgo validates without the repository.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from aixgo.config.mcp import enum_hint
from aixgo.config.problems import JsonPath, Problem, did_you_mean, json_path
from aixgo.config.source import Marks
from aixgo.redaction import looks_secret, mask_address, names_address

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_RESOURCE = "schemas/aixgo.schema.json"


def schema_text() -> str:
    """The schema exactly as shipped (JSON text)."""
    return resources.files("aixgo").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")


@functools.cache
def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_text())
    return loaded


def load_schema() -> dict[str, Any]:
    """The schema as a fresh ``dict`` (callers may modify it)."""
    loaded: dict[str, Any] = json.loads(schema_text())
    return loaded


@functools.cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - jsonschema loads only when a file is validated

    # The schema ships with aixgo and tests/config/test_schema.py checks it against the meta-schema;
    # checking it again here cost a quarter of a second on every start.
    return Draft202012Validator(_schema())


def schema_problems(data: Any, marks: Marks) -> list[Problem]:
    """Every schema violation in ``data``, as problems with positions, expectations and hints."""
    problems: list[Problem] = []
    for error in _validator().iter_errors(data):
        problems.extend(_problems(error, marks))
    return problems


def subschema(path: Sequence[str | int]) -> dict[str, Any] | None:
    """The schema of the value at ``path`` (``$ref`` resolved), or ``None`` outside the schema."""
    node: dict[str, Any] | None = _resolve(_schema())
    for part in path:
        if node is None:
            return None
        if isinstance(part, int):
            items = node.get("items")
            node = _resolve(items) if isinstance(items, dict) else None
        else:
            prop = node.get("properties", {}).get(part)
            node = _resolve(prop) if isinstance(prop, dict) else None
    return node


def property_schema(path: Sequence[str | int]) -> dict[str, Any] | None:
    """The schema of the property at ``path`` *before* resolving its ``$ref`` (it holds the description)."""
    if not path or isinstance(path[-1], int):
        return subschema(path)
    parent = subschema(path[:-1])
    if parent is None:
        return None
    prop = parent.get("properties", {}).get(path[-1])
    return prop if isinstance(prop, dict) else None


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target: dict[str, Any] = _schema()["$defs"][ref.removeprefix("#/$defs/")]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


_SENTENCE_END = re.compile(r"(?<=[a-z0-9)`'\]])\.\s+(?=[A-Z`])")


def _first_sentence(text: str) -> str:
    return _SENTENCE_END.split(text, maxsplit=1)[0].rstrip(".") + "."


def describe_field(path: Sequence[str | int]) -> str | None:
    """``name: first sentence of its description`` for the field at ``path``, if documented."""
    prop = property_schema(path)
    if not prop or "description" not in prop or not path:
        return None
    return f"{json_path(path)}: {_first_sentence(str(prop['description']))}"


# -- what was expected ---------------------------------------------------------------------------

_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
_TYPE_NAMES = {
    "object": "a mapping (key: value lines)",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def expected(schema: Mapping[str, Any]) -> str:
    """A short description of what ``schema`` accepts (``one of 'file', 'redis'``, ``a duration …``)."""
    if "title" in schema and ("pattern" in schema or "anyOf" in schema):
        text = f"a {schema['title']}"
        examples = schema.get("examples")
        if isinstance(examples, list) and examples:
            shown = ", ".join(str(item) for item in examples[:4] if "${" not in str(item))
            text += f" such as {shown}"
        return text
    if "enum" in schema:
        return "one of " + ", ".join(repr(value) for value in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, str):
        return _TYPE_NAMES.get(kind, kind)
    if isinstance(kind, list):
        return " or ".join(_TYPE_NAMES.get(str(k), str(k)) for k in kind)
    if "anyOf" in schema:
        return " or ".join(expected(option) for option in schema["anyOf"])
    return "a valid value"


def found(value: Any, path: JsonPath = ()) -> str:
    """How ``value`` is shown in a message; secrets are never shown."""
    kinds = {str: "a string", int: "a number", float: "a number", bool: "a boolean"}
    if type(value) in kinds and any(isinstance(part, str) and looks_secret(part) for part in path[-2:]):
        return f"{kinds[type(value)]} (hidden)"  # a secret of the wrong type is still a secret
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        if path and isinstance(path[-1], str) and names_address(path[-1]):
            value = mask_address(value)  # an address with a mistyped scheme may still carry a password
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {shown!r}" if value else "an empty string"
    if isinstance(value, datetime | date):
        return f"the date {value.isoformat()}"
    if isinstance(value, list):
        return "an empty list" if not value else f"a list of {len(value)} item{'s' * (len(value) != 1)}"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} value"


# -- one jsonschema error -> problems ------------------------------------------------------------


def _problems(error: ValidationError, marks: Marks) -> Iterator[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    instance = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    validator = error.validator

    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        for key in instance:
            if key not in allowed and not any(re.search(pattern, key) for pattern in patterns):
                yield Problem((*path, key), f"unknown key '{key}'", _unknown_key_hint(key, allowed, path),
                              marks.key((*path, key)))
        return
    if validator == "required" and isinstance(instance, dict):
        for key in schema.get("required", []):
            if key not in instance:
                yield Problem((*path, key), f"missing required key '{key}'",
                              describe_field((*path, key)) or f"add '{key}:'", marks.value(path))
        return

    where = marks.value(path)
    field_schema = subschema(path) or schema
    shown = found(instance, path)
    if validator == "enum":
        choices = [str(choice) for choice in schema.get("enum", [])]
        hint = None
        if (instead := enum_hint(path, instance)) is not None:
            hint = instead
        elif isinstance(instance, str):
            close = did_you_mean(instance, choices)
            hint = f"did you mean {close!r}?" if close else None
        yield Problem(path, f"expected {expected(schema)}, found {shown}",
                      hint or describe_field(path), where)
    elif validator == "type":
        yield Problem(path, f"expected {expected(schema)}, found {shown}",
                      _type_hint(schema, instance, path, quoted=path in marks.quoted), where)
    elif validator in ("anyOf", "oneOf", "pattern"):
        yield Problem(path, f"expected {expected(field_schema if validator != 'pattern' else schema)}, "
                      f"found {shown}", _pattern_hint(path, instance) or describe_field(path), where)
    elif validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = _BOUNDS[validator]
        yield Problem(path, f"expected a number {bound} {error.validator_value}, found {shown}",
                      describe_field(path), where)
    elif validator == "minLength":
        yield Problem(path, f"expected a non-empty string, found {shown}", describe_field(path), where)
    elif validator == "maxLength":
        yield Problem(path, f"expected at most {error.validator_value} characters, found "
                      f"{len(instance) if isinstance(instance, str) else '?'}", describe_field(path), where)
    elif validator == "minItems":
        yield Problem(path, f"expected at least {error.validator_value} item"
                      f"{'s' * (error.validator_value != 1)}, found {shown}",
                      "remove the key, or add items under it", where)
    elif validator == "uniqueItems" and isinstance(instance, list):
        yield from _duplicate_items(path, instance, marks)
    else:  # a keyword this module has no wording for: fall back to jsonschema's own message
        yield Problem(path, error.message, describe_field(path), where)


def _unknown_key_hint(key: str, allowed: list[str], path: JsonPath) -> str:
    close = did_you_mean(key, allowed)
    if close:
        return f"did you mean '{close}'?"
    home = _home_of(key)
    if home and home != path:
        return f"'{key}' belongs under {_section_name(home)}, not here"
    if not allowed:
        return "this mapping takes no keys"
    extension = " (and x-... keys for YAML anchors)" if not path else ""
    return "allowed keys here: " + ", ".join(name for name in allowed if name != "$schema") + extension


def _section_name(path: Sequence[str | int]) -> str:
    text = json_path(path)
    return "an agent (agents[])" if text == "agents[0]" else f"{text}:"


def _home_of(key: str) -> JsonPath | None:
    """The first section of the schema that has a ``key`` property (``session.redis`` for ``addr``)."""
    queue: list[JsonPath] = [()]
    while queue:
        path = queue.pop(0)
        node = subschema(path)
        if node is None:
            continue
        if node.get("type") == "array":
            queue.append((*path, 0))
            continue
        properties = node.get("properties", {})
        if key in properties:
            return path
        queue.extend((*path, name) for name in properties)
    return None


def _type_hint(schema: Mapping[str, Any], instance: Any, path: JsonPath, *, quoted: bool = False) -> str | None:
    kind = schema.get("type")
    if kind == "string" and isinstance(instance, bool):
        return ("YAML reads unquoted yes/no/on/off/true/false as booleans: "
                "put the value in quotes to make it text")
    if kind == "string" and isinstance(instance, int | float | datetime | date):
        return "put the value in quotes to make it text"
    if kind == "object" and instance is None:
        return "the value is empty: indent settings under the key, or remove the key"
    if instance is None:
        return "the value is empty: write it after the colon, or remove the key to use the default"
    if kind == "array" and isinstance(instance, str):
        return f"write a list: {json_path(path[-1:]) if path else 'key'}: [{instance}]"
    if kind == "object" and isinstance(instance, list):
        return "remove the '- ' in front of the keys: this is a mapping, not a list"
    if kind == "array" and isinstance(instance, dict):
        return "each item of a list starts with '- '"
    if kind in ("integer", "number", "boolean") and isinstance(instance, str):
        if quoted:
            return "remove the quotes around the value"
        return "write true or false" if kind == "boolean" else f"write a {'whole ' * (kind == 'integer')}number"
    if kind == "integer" and isinstance(instance, float):
        return "use a whole number"
    return describe_field(path)


def _pattern_hint(path: JsonPath, instance: Any) -> str | None:
    last = path[-1] if path else None
    if len(path) >= 2 and path[-2] == "tools":
        return ("a built-in tool name (calculator, current_time), 'module:function' (e.g. myapp.tools:search) "
                "or SERVER/TOOL (a tool of an MCP server)")
    if last == "url":
        return "start the URL with redis://, rediss:// (TLS) or unix://"
    if last == "key_prefix":
        return "remove '{' and '}': aixgo adds its own Redis Cluster hash tags"
    if last == "base_url":
        return "start the URL with http:// or https://"
    if last == "addr":
        if isinstance(instance, str) and "://" in instance:
            return "that is a URL: write it as 'url:' instead of 'addr:'"
        return "write host:port, e.g. localhost:6379"
    is_duration = (subschema(path) or {}).get("title") == "duration"
    if is_duration and isinstance(instance, int | float) and not isinstance(instance, bool) and instance < 0:
        return "durations cannot be negative"
    if is_duration and isinstance(instance, str):
        if instance.strip().startswith("-"):
            return "durations cannot be negative"
        return "units are ms, s, m, h, d (e.g. 90s, 5m, 1h30m); a plain number means seconds"
    return None


def _duplicate_items(path: JsonPath, items: list[Any], marks: Marks) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        key = json.dumps(item, sort_keys=True, default=str)
        if key in seen:
            first = marks.value((*path, seen[key]))
            at = f" (first at line {first.line})" if first else ""
            yield Problem((*path, index), f"{found(item)} is listed twice", f"remove the repeated item{at}",
                          marks.value((*path, index)))
        else:
            seen[key] = index


__all__ = [
    "SCHEMA_RESOURCE",
    "describe_field",
    "expected",
    "found",
    "load_schema",
    "schema_problems",
    "schema_text",
    "subschema",
]
