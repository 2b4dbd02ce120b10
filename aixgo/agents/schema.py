"""JSON schemas for tool parameters, derived from a Python function's signature, type hints and docstring.

Supported hints: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``, ``list[T]`` / ``tuple`` /
``set`` / ``Sequence[T]``, ``dict[str, T]`` / ``Mapping``, ``Literal[...]``, ``Enum`` subclasses,
unions (``T | None``) and ``Annotated[T, "description"]``. Parameter descriptions come from a
Google-style ``Args:`` section or a NumPy-style ``Parameters`` section.
"""

from __future__ import annotations

import collections.abc
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from aixgo.errors import ToolError

_GOOGLE_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Params|Keyword Args|Kwargs)\s*:\s*$")
_ANY_GOOGLE_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Params|Keyword Args|Kwargs|Returns?|Yields?|Raises|Examples?|"
    r"Notes?|Attributes|See Also|Warnings?|Todo)\s*:\s*$"
)
_GOOGLE_PARAM = re.compile(r"^\s*\**(\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_NUMPY_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_NUMPY_PARAM = re.compile(r"^(\w+)\s*(?::\s*(.*))?$")

_ARRAY_ORIGINS: tuple[Any, ...] = (
    list,
    tuple,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Set,
    collections.abc.Iterable,
    collections.abc.Collection,
)
_OBJECT_ORIGINS: tuple[Any, ...] = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_SCALARS: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """``(description, {parameter: description})`` from a Google- or NumPy-style docstring.

    The description is the text before the first section, whitespace-normalised."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    params: dict[str, str] = {}
    end = len(lines)
    i = 0
    while i < len(lines):
        line = lines[i]
        numpy_header = i + 1 < len(lines) and _NUMPY_UNDERLINE.match(lines[i + 1]) and line.strip()
        if _ANY_GOOGLE_SECTION.match(line) or numpy_header:
            end = min(end, i)
        google = _GOOGLE_SECTION.match(line)
        if google:
            i = _google_params(lines, i + 1, len(google.group(1)), params)
            continue
        if numpy_header and line.strip() in ("Parameters", "Other Parameters", "Arguments"):
            i = _numpy_params(lines, i + 2, params)
            continue
        i += 1
    description = " ".join(" ".join(lines[:end]).split())
    return description, params


def _google_params(lines: list[str], i: int, header_indent: int, params: dict[str, str]) -> int:
    current: str | None = None
    item_indent: int | None = None
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= header_indent:
            break
        match = _GOOGLE_PARAM.match(line)
        if match and (item_indent is None or indent <= item_indent):
            item_indent = indent
            current = match.group(1)
            params[current] = match.group(3).strip()
        elif current is not None:
            params[current] = f"{params[current]} {line.strip()}".strip()
        i += 1
    return i


def _numpy_params(lines: list[str], i: int, params: dict[str, str]) -> int:
    current: str | None = None
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and _NUMPY_UNDERLINE.match(lines[i + 1]) and line.strip():
            break  # the next section
        if line.strip() and not line[0].isspace():
            match = _NUMPY_PARAM.match(line.strip())
            if match:
                current = match.group(1)
                params[current] = ""
        elif line.strip() and current is not None:
            params[current] = f"{params[current]} {line.strip()}".strip()
        i += 1
    return i


def type_schema(hint: Any, where: str) -> dict[str, Any]:
    """The JSON schema of one type hint. ``where`` names the parameter in errors.

    Raises:
        ToolError: the hint has no JSON equivalent.
    """
    if hint is inspect.Parameter.empty or hint is Any or hint is object:
        return {}
    if hint is None or hint is type(None):
        return {"type": "null"}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        schema = type_schema(args[0], where)
        notes = [a for a in args[1:] if isinstance(a, str)]
        return {**schema, "description": notes[0]} if notes else schema
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [member.value for member in hint]
        return {"enum": values}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin is typing.Union or origin is types.UnionType:
        options = [type_schema(a, where) for a in args]
        simple = [o.get("type") for o in options]
        if all(isinstance(t, str) and len(o) == 1 for t, o in zip(simple, options, strict=True)):
            return {"type": simple}
        return {"anyOf": options}
    if hint in _ARRAY_ORIGINS or origin in _ARRAY_ORIGINS:
        elements = list(dict.fromkeys(a for a in args if a is not Ellipsis))
        if len(elements) > 1:  # tuple[int, str]
            items: dict[str, Any] = {"anyOf": [type_schema(a, where) for a in elements]}
        else:
            items = type_schema(elements[0] if elements else Any, where)
        return {"type": "array", "items": items}
    if hint in _OBJECT_ORIGINS or origin in _OBJECT_ORIGINS:
        if len(args) == 2 and args[1] is not Any:
            return {"type": "object", "additionalProperties": type_schema(args[1], where)}
        return {"type": "object"}
    raise ToolError(
        f"{where}: type {hint!r} has no JSON schema equivalent; "
        "use str, int, float, bool, list, dict, Literal, an Enum or a union of those"
    )


def function_schema(function: Callable[..., Any], tool_name: str) -> tuple[str, dict[str, Any]]:
    """``(description, parameters schema)`` for ``function``.

    Raises:
        ToolError: ``*args``/``**kwargs``, positional-only parameters, or unsupported type hints.
    """
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as exc:  # NameError for unresolvable forward references, and the like
        raise ToolError(f"tool {tool_name!r}: cannot resolve its type hints: {exc}") from exc
    description, docs = parse_docstring(inspect.getdoc(function))
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, param in inspect.signature(function).parameters.items():
        where = f"tool {tool_name!r}, parameter {name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ToolError(f"{where}: tools take named parameters only (no *args, **kwargs or /)")
        schema = type_schema(hints.get(name, inspect.Parameter.empty), where)
        if name in docs and docs[name] and "description" not in schema:
            schema["description"] = docs[name]
        if param.default is param.empty:
            required.append(name)
        elif param.default is None or isinstance(param.default, str | int | float | bool):
            schema["default"] = param.default
        properties[name] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        parameters["required"] = required
    return description, parameters
