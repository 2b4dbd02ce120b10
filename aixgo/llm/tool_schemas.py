"""Tool parameter schemas made acceptable to a server that refused them as they were.

Schemas are sent as their authors wrote them (an MCP server's tools, a Python tool's). Some servers
refuse shapes that are valid JSON Schema: OpenAI a function whose parameters are not ``type: object``
or have no ``properties`` ("Invalid schema for function 'f': In context=(), object schema missing
properties.") and an array without ``items``; ollama 0.6 a property with a list of types ("cannot
unmarshal array into Go struct field …"). When a server refuses a request for that reason, the request
is sent again with :func:`clean_tool_schemas` and, when that works, that server and model get cleaned
schemas from then on (:mod:`aixgo.llm.quirks`). Each change keeps the meaning: ``{}`` for missing
``properties``/``items`` accepts what the absent keyword accepted, and ``anyOf`` says what a list of
types said.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_REFUSED_SCHEMA = re.compile(
    r"invalid schema for function|invalid_function_parameters|cannot unmarshal .*tools|"
    r"tools\[\d+\]\.function\.parameters",
    re.IGNORECASE,
)
_SUBSCHEMA_KEYS = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")


def refuses_tool_schemas(message: str) -> bool:
    """Whether a server's refusal says a tool's parameter schema is what it cannot take."""
    return _REFUSED_SCHEMA.search(message) is not None


def clean_tool_schemas(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``tools`` (OpenAI tool definitions) with their parameters cleaned (see the module docstring);
    the originals are not changed."""
    out: list[dict[str, Any]] = []
    for tool in tools:
        function = tool.get("function")
        if not isinstance(function, Mapping):
            out.append(dict(tool))
            continue
        parameters = function.get("parameters")
        root = clean_schema(parameters) if isinstance(parameters, Mapping) else {}
        root.setdefault("type", "object")
        if root.get("type") == "object":
            root.setdefault("properties", {})
        out.append({**tool, "function": {**function, "parameters": root}})
    return out


def clean_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """One schema and the schemas inside it, cleaned."""
    out = dict(schema)
    kind = out.get("type")
    if isinstance(kind, list):
        del out["type"]
        options = [{"type": each} for each in kind]
        out = {"anyOf": options, **out} if len(options) > 1 else {**out, **(options[0] if options else {})}
        kind = out.get("type")
    if kind == "object" and "properties" not in out and "additionalProperties" not in out:
        out["properties"] = {}
    if kind == "array" and "items" not in out and "prefixItems" not in out:
        out["items"] = {}
    for key in _SUBSCHEMA_KEYS:
        if isinstance(out.get(key), Mapping):
            out[key] = clean_schema(out[key])
    for key in _SUBSCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [clean_schema(item) if isinstance(item, Mapping) else item for item in out[key]]
    for key in _SUBSCHEMA_MAPS:
        if isinstance(out.get(key), Mapping):
            out[key] = {name: clean_schema(inner) if isinstance(inner, Mapping) else inner
                        for name, inner in out[key].items()}
    return out


__all__ = ["clean_schema", "clean_tool_schemas", "refuses_tool_schemas"]
