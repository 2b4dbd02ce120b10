"""The import graph of the ``aixgo`` package against the layers named in docs/architecture.md: every
module belongs to a layer, no module imports from a later layer, and no import cycle exists.

Every import counts, including those under ``TYPE_CHECKING`` and inside functions: a cycle hidden
from the interpreter is still a cycle for a reader. ``from package import name`` is an import of
``package.name`` when that is a module, else of the package."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "aixgo"
DOC = ROOT / "docs" / "architecture.md"
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|")


def layers() -> dict[str, tuple[int, str]]:
    """Module prefix → (layer number, layer name), from the table after the ``<!-- layers`` marker."""
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("<!-- layers"):].split("\n\n", 1)[0]
    found: dict[str, tuple[int, str]] = {}
    for line in table.splitlines():
        row = ROW.match(line)
        if row:
            for prefix in re.findall(r"`([\w.]+)`", row.group(3)):
                found[prefix] = (int(row.group(1)), row.group(2))
    return found


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The package's modules that ``name`` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                if target in known and target != name:
                    yield target


@functools.cache
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imports(name, path, known)) for name, path in known.items()}


def layer_of(module: str, table: dict[str, tuple[int, str]]) -> tuple[int, str] | None:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in table:
            return table[".".join(parts[:end])]
    return None


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while (top := stack.pop()) != node:
                component.append(top)
            if component:
                found.append(sorted([node, *component]))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_doc_names_the_layers() -> None:
    table = layers()
    assert {number for number, _ in table.values()} == set(range(1, len(set(table.values())) + 1))
    assert layer_of("aixgo.errors", table) == (1, "foundation")
    assert layer_of("aixgo.session.file.log", table) == (4, "stores")
    assert layer_of("aixgo.session.io", table) == (5, "sessions")


def test_every_module_has_a_layer() -> None:
    table = layers()
    missing = sorted(module for module in modules() if layer_of(module, table) is None)
    assert not missing, f"add these modules to the layer table of {DOC.name}: {missing}"


def test_no_module_imports_from_a_later_layer() -> None:
    table = layers()
    upward = []
    for module, targets in sorted(graph().items()):
        mine = layer_of(module, table)
        for target in sorted(targets):
            theirs = layer_of(target, table)
            if mine is not None and theirs is not None and theirs[0] > mine[0]:
                upward.append(f"{module} ({mine[1]}) imports {target} ({theirs[1]})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_cycles_are_found(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(edges) == expected


def test_type_checking_and_function_level_imports_count(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from aixgo.agents.react import ReActAgent\n"
        "def f():\n    from aixgo.testing import ScriptedModel\n    from . import tools\n"
    )
    known = modules()
    assert set(imports("aixgo.agents.m", source, known)) == {
        "aixgo.agents.react", "aixgo.testing", "aixgo.agents.tools",
    }


# -- one owner of the record's bytes ---------------------------------------------------------------

RECORD_BYTES = re.compile(r'"k"\s*:|"parent_id"\s*:|,"id":')


def code_strings(path: Path) -> Iterator[tuple[int, str]]:
    """The string and bytes constants of a module that are not docstrings, with their lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes) and id(node) not in docstrings:
            value = node.value.decode("utf-8", "replace") if isinstance(node.value, bytes) else node.value
            yield node.lineno, value


STORES = PACKAGE / "session"


def test_only_the_codec_spells_the_records_bytes() -> None:
    """The stores' fast paths (file log, entry-id index, listing, Lua) take the encoded record's layout
    from ``session/core/codec.py``: no store module, script or statement spells it (comments aside)."""
    spelled = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(STORES.rglob("*.py"))
        if "core" not in path.relative_to(STORES).parts
        for line, value in code_strings(path)
        if RECORD_BYTES.search(value) or value == "k"  # the kind's key: codec.kind_of
    ]
    for path in sorted([*STORES.rglob("*.lua"), *STORES.rglob("*.sql")]):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if RECORD_BYTES.search(line.split("--", 1)[0]):
                spelled.append(f"{path.relative_to(ROOT)}:{number}")
    assert not spelled, "take these bytes from aixgo.session.core.codec:\n" + "\n".join(spelled)


# -- function sizes --------------------------------------------------------------------------------

MAX_LINES = 60
"""No function in the package is longer (body and signature, without decorators) unless its
docstring gives the reason, in a sentence that starts with ``Longer than``."""
TURN_PIPELINE = ("aixgo/agents/turn.py", "aixgo/agents/react.py", "aixgo/agents/protocol.py")
MAX_TURN_LINES = 40
"""The turn pipeline's functions are shorter still: a new step is a new method, not a longer one."""


def functions(path: Path) -> Iterator[tuple[str, int, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1, node


def test_no_function_is_longer_than_60_lines_without_a_reason() -> None:
    long = [
        f"{where} ({size} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for where, size, node in functions(path)
        if size > MAX_LINES and "Longer than" not in (ast.get_docstring(node) or "")
    ]
    assert not long, f"split these, or say why they are longer than {MAX_LINES} lines:\n" + "\n".join(long)


def test_the_turn_pipeline_has_no_function_over_40_lines() -> None:
    long = [
        f"{where} ({size} lines)"
        for name in TURN_PIPELINE
        for where, size, _ in functions(ROOT / name)
        if size > MAX_TURN_LINES
    ]
    assert not long, "\n".join(long)


def test_the_turn_pipeline_types_its_parameters() -> None:
    """No parameter of the turn pipeline (or the runtime that drives it) is typed ``Any``."""
    untyped = [
        f"{where}({arg.arg})"
        for name in (*TURN_PIPELINE, "aixgo/runtime.py", "aixgo/agents/observe.py")
        for where, _, node in functions(ROOT / name)
        for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)
        if arg.annotation is not None and ast.unparse(arg.annotation) == "Any"
    ]
    assert not untyped, "\n".join(untyped)
