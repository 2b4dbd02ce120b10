"""Python functions as tools: :class:`Tool` and the :func:`tool` decorator.

A tool is a plain Python function, sync or async. Its JSON schema comes from its signature, type
hints and docstring (see :mod:`aixgo.agents.schema`)::

    @tool
    def lookup_order(order_id: str, include_items: bool = False) -> dict:
        '''Find an order by id.

        Args:
            order_id: The order number, e.g. "A-1001".
            include_items: Also list the items.
        '''

Sync tools run in a worker thread, with the caller's context (so
:func:`aixgo.session.session_from_context` works inside them).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, overload

from aixgo.agents.schema import function_schema
from aixgo.agents.tools.base import MAX_RESULT_CHARS, NAME_PATTERN, BaseTool, ToolResult, format_result
from aixgo.errors import ToolError


class Tool(BaseTool):
    """A function the model may call, with its name, description and JSON parameter schema.

    Calling the ``Tool`` calls the function, so a decorated function still works as before.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        source: str = "python",
        require_approval: bool = False,
    ) -> None:
        if isinstance(function, Tool):
            function = function.function
        if not callable(function):
            raise ToolError(f"a tool must be a function, got {type(function).__name__}")
        self.function: Callable[..., Any] = function
        self.name: str = name or str(getattr(function, "__name__", ""))
        if not NAME_PATTERN.match(self.name):
            raise ToolError(f"tool name {self.name!r} must be 1-64 letters, digits, '_' or '-'")
        doc_description, self.parameters = function_schema(function, self.name)
        self.description = description or doc_description or f"The {self.name} tool."
        self.is_async = inspect.iscoroutinefunction(function)
        self.source = source
        self.require_approval = require_approval
        module = getattr(function, "__module__", None)
        self.origin = f"{module}:{getattr(function, '__qualname__', self.name)}" if module else self.name
        functools.update_wrapper(self, function, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    async def invoke(self, arguments: Mapping[str, Any]) -> Any:
        """Run the function with already-validated keyword ``arguments``; returns what it returns."""
        if self.is_async:
            return await self.function(**arguments)
        result = await asyncio.to_thread(self.function, **arguments)
        if inspect.isawaitable(result):  # a sync function that returned a coroutine
            result = await result
        return result

    async def run(self, arguments: Mapping[str, Any], *, max_chars: int = MAX_RESULT_CHARS) -> ToolResult:
        """The function's return value as an observation (JSON for JSON-like values), bounded."""
        return ToolResult(format_result(await self.invoke(arguments), max_chars))


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, require_approval: bool = False
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    require_approval: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function a :class:`Tool`: ``@tool`` or ``@tool(name="...", description="...")``;
    ``require_approval=True``: a call waits for a person's approval before it runs.

    Raises:
        ToolError: the function's parameters cannot be described as JSON.
    """
    if function is not None:
        return Tool(function, name=name, description=description, require_approval=require_approval)
    return lambda fn: Tool(fn, name=name, description=description, require_approval=require_approval)


__all__ = ["Tool", "tool"]
