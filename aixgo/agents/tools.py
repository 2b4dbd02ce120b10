"""Tools an agent can call: the :func:`tool` decorator, :class:`ToolRegistry`, and resolving config names.

A tool is a plain Python function, sync or async. Its JSON schema comes from its signature, type
hints and docstring (see :mod:`aixgo.agents.schema`)::

    @tool
    def lookup_order(order_id: str, include_items: bool = False) -> dict:
        '''Find an order by id.

        Args:
            order_id: The order number, e.g. "A-1001".
            include_items: Also list the items.
        '''

Running a tool never raises into the agent loop: bad arguments, unknown tools and exceptions
become an error observation (:class:`ToolResult` with ``is_error=True``) that the model sees and can
react to. Sync tools run in a worker thread, with the caller's context (so
:func:`aixgo.session.session_from_context` works inside them).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, overload

import jsonschema
from jsonschema.exceptions import best_match

from aixgo.agents.builtin import calculator, current_time
from aixgo.agents.schema import function_schema
from aixgo.errors import ToolError
from aixgo.logs import get_logger

log = get_logger("aixgo.agents.tools")

MAX_RESULT_CHARS = 16_000
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Tool:
    """A function the model may call, with its name, description and JSON parameter schema.

    Calling the ``Tool`` calls the function, so a decorated function still works as before.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        if isinstance(function, Tool):
            function = function.function
        if not callable(function):
            raise ToolError(f"a tool must be a function, got {type(function).__name__}")
        self.function: Callable[..., Any] = function
        self.name: str = name or str(getattr(function, "__name__", ""))
        if not _NAME_RE.match(self.name):
            raise ToolError(f"tool name {self.name!r} must be 1-64 letters, digits, '_' or '-'")
        doc_description, self.parameters = function_schema(function, self.name)
        self.description = description or doc_description or f"The {self.name} tool."
        self.is_async = inspect.iscoroutinefunction(function)
        self._validator = jsonschema.Draft202012Validator(self.parameters)
        functools.update_wrapper(self, function, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    def schema(self) -> dict[str, Any]:
        """The OpenAI tool definition (``{"type": "function", "function": {...}}``)."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def validate(self, arguments: Mapping[str, Any]) -> str | None:
        """None if ``arguments`` match the schema, else a one-line description of the first problem."""
        error = best_match(self._validator.iter_errors(dict(arguments)))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path)
        return f"{where}: {error.message}" if where else error.message

    async def invoke(self, arguments: Mapping[str, Any]) -> Any:
        """Run the tool with already-validated keyword ``arguments``."""
        if self.is_async:
            return await self.function(**arguments)
        result = await asyncio.to_thread(self.function, **arguments)
        if inspect.isawaitable(result):  # a sync function that returned a coroutine
            result = await result
        return result


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function a :class:`Tool`: ``@tool`` or ``@tool(name="...", description="...")``.

    Raises:
        ToolError: the function's parameters cannot be described as JSON.
    """
    if function is not None:
        return Tool(function, name=name, description=description)
    return lambda fn: Tool(fn, name=name, description=description)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The observation a tool call produced. ``content`` is what the model sees."""

    content: str
    is_error: bool = False


def format_result(value: Any, max_chars: int = MAX_RESULT_CHARS) -> str:
    """A tool's return value as observation text: JSON for JSON-like values, else ``str()``; bounded."""
    if isinstance(value, str):
        text = value
    elif value is None:
        text = "(no output)"
    elif isinstance(value, dict | list | tuple | int | float | bool):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    if len(text) > max_chars:
        text = f"{text[:max_chars]}\n… [truncated: {len(text) - max_chars} more characters]"
    return text


def parse_arguments(raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The keyword arguments encoded in a tool call's ``arguments`` text.

    Raises:
        ValueError: not valid JSON, or not a JSON object (the message says which).
    """
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    text = raw.strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        reason = exc.msg.removesuffix(" at")  # some messages end in "at" already ("...starting at")
        raise ValueError(f"the arguments are not valid JSON ({reason} at character {exc.pos})") from exc
    if not isinstance(value, dict):
        raise ValueError(f"the arguments must be a JSON object, got {type(value).__name__}")
    return value


class ToolRegistry:
    """The tools one agent may use, by name."""

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.register(item)

    def register(self, item: Tool | Callable[..., Any], *, name: str | None = None) -> Tool:
        """Add a tool (a :class:`Tool` or a plain function). Raises ``ToolError`` on a duplicate name."""
        if isinstance(item, Tool) and (name is None or name == item.name):
            added = item
        else:
            added = Tool(item.function if isinstance(item, Tool) else item, name=name)
        if added.name in self._tools:
            raise ToolError(f"two tools are named {added.name!r}; tool names must be unique per agent")
        self._tools[added.name] = added
        return added

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        """Tool names, in registration order."""
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """OpenAI tool definitions of every tool, for a model request."""
        return [t.schema() for t in self._tools.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names!r})"

    async def execute(
        self,
        name: str,
        arguments: str | Mapping[str, Any] | None,
        *,
        max_chars: int = MAX_RESULT_CHARS,
        log_fields: Mapping[str, Any] | None = None,
    ) -> ToolResult:
        """Run one tool call and return its observation; never raises for the tool's own failures."""
        fields = dict(log_fields or {})
        found = self._tools.get(name)
        if found is None:
            available = ", ".join(self.names) or "none"
            log.warning("tool.unknown", tool=name, **fields)
            return ToolResult(f"Error: there is no tool named {name!r}. Available tools: {available}.", True)
        try:
            kwargs = parse_arguments(arguments)
        except ValueError as exc:
            log.warning("tool.bad_arguments", tool=name, problem="invalid JSON", **fields)
            return ToolResult(
                f"Error: {exc}. Call {name} again with a JSON object matching its parameters schema.", True
            )
        problem = found.validate(kwargs)
        if problem is not None:
            log.warning("tool.bad_arguments", tool=name, problem="schema", **fields)
            return ToolResult(f"Error: invalid arguments for {name}: {problem}", True)
        started = time.perf_counter()
        try:
            value = await found.invoke(kwargs)
        except Exception as exc:
            log.warning(
                "tool.failed",
                tool=name,
                error_type=type(exc).__name__,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                exc_info=True,
                **fields,
            )
            return ToolResult(f"Error: {name} failed: {type(exc).__name__}: {exc}", True)
        log.info(
            "tool.done", tool=name, duration_ms=round((time.perf_counter() - started) * 1000, 1), **fields
        )
        return ToolResult(format_result(value, max_chars))


BUILTIN_TOOLS: dict[str, Tool] = {t.name: t for t in (Tool(calculator), Tool(current_time))}
"""The tools a config can name without a module: ``calculator`` and ``current_time``."""


def _import_reference(spec: str) -> Tool | Callable[..., Any]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ToolError(f"tool reference {spec!r} must look like 'package.module:function'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ToolError(
            f"tool {spec!r}: cannot import module {module_name!r} ({exc}); is it installed?"
        ) from exc
    except Exception as exc:
        raise ToolError(
            f"tool {spec!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ToolError(f"tool {spec!r}: module {module_name!r} has no attribute {attribute!r}") from exc
    if not callable(target):
        raise ToolError(f"tool {spec!r} is a {type(target).__name__}, not a function")
    return target  # type: ignore[no-any-return]


def resolve_tools(specs: Iterable[str | Tool | Callable[..., Any]] | ToolRegistry = ()) -> ToolRegistry:
    """A registry from built-in names (``"calculator"``), ``"package.module:function"`` references,
    :class:`Tool` objects or plain functions — what an agent's ``tools:`` list holds.

    Raises:
        ToolError: an unknown name, an unimportable reference, a non-function, or a duplicate name.
    """
    if isinstance(specs, ToolRegistry):
        return specs
    registry = ToolRegistry()
    for spec in specs:
        if not isinstance(spec, str):
            registry.register(spec)
        elif ":" in spec:
            registry.register(_import_reference(spec.strip()))
        elif spec.strip() in BUILTIN_TOOLS:
            registry.register(BUILTIN_TOOLS[spec.strip()])
        else:
            builtins = ", ".join(BUILTIN_TOOLS)
            raise ToolError(
                f"unknown tool {spec!r}: built-in tools are {builtins}; "
                "reference your own function as 'package.module:function'"
            )
    return registry
