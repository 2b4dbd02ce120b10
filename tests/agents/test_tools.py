"""Tools: schemas from signatures and docstrings, execution as observations, resolving config names."""

from __future__ import annotations

import asyncio
import enum
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

from aixgo.agents import BUILTIN_TOOLS, Tool, ToolRegistry, resolve_tools, tool
from aixgo.agents.schema import parse_docstring
from aixgo.agents.tools import format_result, parse_arguments
from aixgo.errors import ToolError
from aixgo.session import Manager, session_from_context, use_session
from tests.support.fixtures import LogCapture


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@tool
def search(
    query: str,
    limit: int = 5,
    ratio: float | None = None,
    exact: bool = False,
    tags: list[str] | None = None,
    mode: Literal["fast", "deep"] = "fast",
    color: Color = Color.RED,
    extra: dict[str, int] | None = None,
    note: Annotated[str, "A free note."] = "",
    anything: Any = None,
) -> list[str]:
    """Search the catalogue.

    Longer explanation that belongs to the description.

    Args:
        query: What to look for,
            possibly on two lines.
        limit (int): At most this many results.
        exact: Match exactly.

    Returns:
        Matching names.
    """
    return [query] * limit


def test_google_docstring_and_types_become_a_schema() -> None:
    assert search.name == "search"
    assert search.description == "Search the catalogue. Longer explanation that belongs to the description."
    params = search.parameters
    props = params["properties"]
    assert params["required"] == ["query"]
    assert params["additionalProperties"] is False
    assert props["query"] == {"type": "string", "description": "What to look for, possibly on two lines."}
    assert props["limit"] == {"type": "integer", "description": "At most this many results.", "default": 5}
    assert props["ratio"] == {"type": ["number", "null"], "default": None}
    assert props["exact"] == {"type": "boolean", "description": "Match exactly.", "default": False}
    assert props["tags"] == {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
        "default": None,
    }
    assert props["mode"] == {"enum": ["fast", "deep"], "default": "fast"}
    assert props["color"] == {"enum": ["red", "blue"]}
    assert props["extra"]["anyOf"][0] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["note"] == {"type": "string", "description": "A free note.", "default": ""}
    assert props["anything"] == {"default": None}
    assert search("x", limit=2) == ["x", "x"]  # still callable
    assert search.__doc__ is not None and search.__name__ == "search"


def test_numpy_docstring() -> None:
    def convert(amount: float, currency: str = "EUR") -> float:
        """Convert money.

        Parameters
        ----------
        amount : float
            How much,
            in the source currency.
        currency : str
            ISO code.

        Returns
        -------
        float
        """
        return amount

    description, params = parse_docstring(convert.__doc__)
    assert description == "Convert money."
    assert params == {"amount": "How much, in the source currency.", "currency": "ISO code."}
    assert (
        Tool(convert).parameters["properties"]["amount"]["description"] == "How much, in the source currency."
    )


def test_docstring_edge_cases() -> None:
    assert parse_docstring(None) == ("", {})
    assert parse_docstring("Just a summary.") == ("Just a summary.", {})
    description, params = parse_docstring(
        "Do it.\n\nArgs:\n    a: first\n    b: second\nRaises:\n    ValueError: never"
    )
    assert (description, params) == ("Do it.", {"a": "first", "b": "second"})


def test_tool_decorator_with_options_and_sequences() -> None:
    @tool(name="lookup-v2", description="Custom text.")
    async def lookup(ids: Sequence[int], pair: tuple[int, str]) -> str:
        return "x"

    assert lookup.name == "lookup-v2" and lookup.description == "Custom text." and lookup.is_async
    props = lookup.parameters["properties"]
    assert props["ids"] == {"type": "array", "items": {"type": "integer"}}
    assert props["pair"] == {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}}
    assert lookup.schema() == {
        "type": "function",
        "function": {"name": "lookup-v2", "description": "Custom text.", "parameters": lookup.parameters},
    }


def test_undocumented_function_gets_a_default_description() -> None:
    def ping() -> str:
        return "pong"

    assert Tool(ping).description == "The ping tool."
    assert Tool(ping).parameters == {"type": "object", "properties": {}, "additionalProperties": False}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f(*args: int) -> None: ...", "named parameters only"),
        ("def f(**kw: int) -> None: ...", "named parameters only"),
        ("def f(a: int, /) -> None: ...", "named parameters only"),
        ("def f(a: bytes) -> None: ...", "no JSON schema equivalent"),
        ("def f(a: 'Missing') -> None: ...", "cannot resolve its type hints"),
    ],
)
def test_unusable_signatures_are_tool_errors(source: str, message: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(ToolError, match=message):
        Tool(namespace["f"])


def test_bad_names() -> None:
    with pytest.raises(ToolError, match="1-64"):
        Tool(lambda: None)  # "<lambda>"
    with pytest.raises(ToolError, match="must be a function"):
        Tool(42)  # type: ignore[arg-type]


def test_wrapping_a_tool_again_keeps_its_function() -> None:
    again = Tool(search, name="search2")
    assert again.function is search.function and again.name == "search2"


# -- execution ---------------------------------------------------------------------------------


def execute(registry: ToolRegistry, name: str, arguments: Any, **kwargs: Any) -> Any:
    return asyncio.run(registry.execute(name, arguments, **kwargs))


def test_execute_success_and_result_formatting() -> None:
    registry = ToolRegistry([search])
    result = execute(registry, "search", '{"query": "lamp", "limit": 2}')
    assert (result.content, result.is_error) == ('["lamp", "lamp"]', False)
    assert format_result("plain") == "plain"
    assert format_result(None) == "(no output)"
    assert format_result({"a": 1}) == '{"a": 1}'
    assert format_result(object()).startswith("<object")  # default=str
    long = format_result("x" * 50, max_chars=10)
    assert long.startswith("x" * 10) and "truncated: 40 more characters" in long


def test_unknown_tool_is_an_observation() -> None:
    result = execute(ToolRegistry([search]), "serach", "{}")
    assert result.is_error and "no tool named 'serach'" in result.content and "search" in result.content


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"query": ', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"limit": 3}', "'query' is a required property"),
        ('{"query": "x", "limit": "three"}', "limit: 'three' is not of type 'integer'"),
        ('{"query": "x", "bogus": 1}', "Additional properties are not allowed"),
        ('{"query": "x", "mode": "slow"}', "mode: 'slow' is not one of"),
    ],
)
def test_bad_arguments_are_observations(arguments: str, expected: str, aixgo_logs: LogCapture) -> None:
    result = execute(ToolRegistry([search]), "search", arguments)
    assert result.is_error
    assert expected in result.content
    assert aixgo_logs.named("tool.bad_arguments")


def test_empty_arguments_mean_no_arguments() -> None:
    assert parse_arguments("") == {} and parse_arguments(None) == {} and parse_arguments({"a": 1}) == {"a": 1}


def test_tool_exception_is_an_observation_and_logged(aixgo_logs: LogCapture) -> None:
    @tool
    def explode(reason: str) -> str:
        """Always fails."""
        raise RuntimeError(f"boom: {reason}")

    result = execute(ToolRegistry([explode]), "explode", '{"reason": "disk full"}', log_fields={"agent": "a"})
    assert result.is_error
    assert result.content == "Error: explode failed: RuntimeError: boom: disk full"
    (event,) = aixgo_logs.named("tool.failed")
    assert event["tool"] == "explode" and event["error_type"] == "RuntimeError" and event["agent"] == "a"


def test_sync_tools_run_off_the_event_loop_with_the_session_in_context(session_manager: Manager) -> None:
    seen: dict[str, Any] = {}

    @tool
    def where_am_i() -> str:
        """Report the thread and session."""
        seen["thread"] = threading.current_thread()
        current = session_from_context()
        return current.id if current else "none"

    @tool
    async def where_async() -> str:
        """Report the session."""
        current = session_from_context()
        return current.id if current else "none"

    session = session_manager.create("agent", "sess-1")
    registry = ToolRegistry([where_am_i, where_async])

    async def run() -> tuple[str, str]:
        with use_session(session):
            a = await registry.execute("where_am_i", "{}")
            b = await registry.execute("where_async", "{}")
        return a.content, b.content

    assert asyncio.run(run()) == ("sess-1", "sess-1")
    assert seen["thread"] is not threading.main_thread()


def test_registry_basics() -> None:
    registry = ToolRegistry()
    registry.register(search)
    renamed = registry.register(search, name="find")
    assert registry.names == ["search", "find"] and len(registry) == 2 and "find" in registry
    assert registry.get("find") is renamed and registry.get("nope") is None
    assert [s["function"]["name"] for s in registry.schemas()] == ["search", "find"]
    assert list(registry) == [search, renamed]
    with pytest.raises(ToolError, match="two tools are named 'search'"):
        registry.register(search)


# -- resolving config names --------------------------------------------------------------------


def test_resolve_builtins_functions_and_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "my_tools_for_aixgo.py"
    module.write_text(
        "from aixgo.agents import tool\n"
        "def shout(text: str) -> str:\n    '''Upper-case.'''\n    return text.upper()\n"
        "@tool(name='whisper')\ndef _w(text: str) -> str:\n    return text.lower()\n"
        "class Ns:\n    @staticmethod\n    def deep(x: int) -> int:\n        return x\n"
        "NOT_CALLABLE = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = resolve_tools(
        [
            "calculator",
            "current_time",
            "my_tools_for_aixgo:shout",
            "my_tools_for_aixgo:_w",
            "my_tools_for_aixgo:Ns.deep",
            search,
        ]
    )
    assert registry.names == ["calculator", "current_time", "shout", "whisper", "deep", "search"]
    assert registry.get("calculator") is BUILTIN_TOOLS["calculator"]
    assert resolve_tools(registry) is registry
    assert execute(registry, "shout", '{"text": "hi"}').content == "HI"
    sys.modules.pop("my_tools_for_aixgo", None)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("calculatr", "unknown tool 'calculatr': built-in tools are calculator, current_time"),
        ("no_such_module_aixgo:f", "cannot import module 'no_such_module_aixgo'"),
        ("json:no_such_function", "has no attribute 'no_such_function'"),
        ("json:__doc__", "is a str, not a function"),
        (":f", "must look like 'package.module:function'"),
        ("json:", "must look like 'package.module:function'"),
    ],
)
def test_resolve_errors(spec: str, message: str) -> None:
    with pytest.raises(ToolError, match=message.replace("(", r"\(")):
        resolve_tools([spec])


def test_resolve_module_that_fails_to_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_tools_for_aixgo.py").write_text("raise RuntimeError('bad module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        ToolError, match="importing 'broken_tools_for_aixgo' failed: RuntimeError: bad module"
    ):
        resolve_tools(["broken_tools_for_aixgo:f"])


def test_resolve_duplicate_names() -> None:
    with pytest.raises(ToolError, match="two tools are named 'calculator'"):
        resolve_tools(["calculator", "aixgo.agents.builtin:calculator"])


def test_invalid_json_arguments_read_well() -> None:
    """The first version said "Unterminated string starting at at character 14"."""
    from aixgo.agents.tools import parse_arguments

    for raw, expected in (
        ('{"expression": "2+2', "Unterminated string starting at character 15"),
        ('{"expression": 1 2}', "Expecting ',' delimiter at character 17"),
    ):
        with pytest.raises(ValueError) as caught:
            parse_arguments(raw)
        assert expected in str(caught.value) and " at at " not in str(caught.value)


def test_the_public_names_of_aixgo_agents_tools_still_import() -> None:
    """aixgo.agents.tools became a package (tool sources behind one interface); its names stay."""
    from aixgo.agents import tools

    for name in ("BUILTIN_TOOLS", "MAX_RESULT_CHARS", "Tool", "ToolRegistry", "ToolResult", "format_result",
                 "parse_arguments", "resolve_tools", "tool", "BaseTool", "ToolSource"):
        assert hasattr(tools, name), name
    assert {t.source for t in BUILTIN_TOOLS.values()} == {"built-in"}
    assert search.source == "python" and search.origin.endswith(":search")


class _Changing:
    """A tool source whose tools change while the agent runs (as an MCP server's do)."""

    label = "changing"

    def __init__(self, *tools: Tool) -> None:
        self.current = list(tools)
        self.prepared = 0

    def tools(self) -> Sequence[Tool]:
        return self.current

    async def aprepare(self) -> None:
        self.prepared += 1


def test_a_tool_source_is_offered_as_it_is_now_and_fixed_tools_win_a_name(aixgo_logs: LogCapture) -> None:
    def greet(name: str) -> str:
        """Say hello."""
        return f"hello {name}"

    def calculator(expression: str) -> str:
        """Another calculator."""
        return "shadowed"

    source = _Changing(Tool(greet))
    registry = resolve_tools(["calculator", source])
    asyncio.run(registry.aprepare())
    assert source.prepared == 1 and registry.names == ["calculator", "greet"]
    assert asyncio.run(registry.execute("greet", '{"name": "Ada"}')).content == "hello Ada"
    source.current = [Tool(calculator)]
    assert registry.names == ["calculator"]
    assert asyncio.run(registry.execute("calculator", '{"expression": "2+3"}')).content == "5"
    assert [e["tool"] for e in aixgo_logs.named("tool.shadowed")] == ["calculator"]
    assert "greet" not in registry and len(registry) == 1
