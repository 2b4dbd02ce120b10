"""One problem found in a config file, and how it is printed.

Every problem reads ``file:line:column: json.path: what is wrong`` followed by the offending source
line with a caret under the column, and a ``hint:`` line::

    configs/app.yaml:9:5: agents[0].max_step: unknown key 'max_step'
        9 |     max_step: 5
          |     ^
      hint: did you mean 'max_steps'?

Lines and columns are 1-based. Source lines that would show a secret (``api_key:``, ``password:``,
credentials in a URL) are printed with the value masked.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aixgo.redaction import mask_secrets

PathPart = str | int
JsonPath = tuple[PathPart, ...]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$-]*")


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A 1-based position in the config file."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong (``message``), where (``path`` in the data, ``location`` in the file), and a ``hint``.

    ``path`` is ``None`` for problems that are not about one value (YAML syntax errors).
    """

    path: JsonPath | None
    message: str
    hint: str | None = None
    location: Location | None = None

    def sort_key(self) -> tuple[int, int]:
        """Order problems by position in the file (problems without one last, in the order found)."""
        if self.location is None:
            return (1 << 30, 0)
        return (self.location.line, self.location.column)


def json_path(path: Sequence[PathPart]) -> str:
    """``("agents", 1, "max_steps")`` → ``agents[1].max_steps``; the empty path is ``(top level)``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "(top level)"


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to ``word`` (difflib), or ``None`` if nothing is close."""
    options = list(candidates)
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not matches:
        lowered = {option.lower(): option for option in options}
        if word.lower() in lowered:
            return lowered[word.lower()]
        matches = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
        return lowered[matches[0]] if matches else None
    return matches[0]


def format_problem(problem: Problem, source_name: str, lines: Sequence[str] | None = None) -> str:
    """The printed form of ``problem`` (see the module docstring); ``lines`` are the file's lines."""
    where = source_name
    if problem.location is not None:
        where += f":{problem.location.line}:{problem.location.column}"
    head = f"{where}: "
    if problem.path is not None:
        head += f"{json_path(problem.path)}: "
    out = [head + problem.message]
    if problem.location is not None and lines:
        out.extend(_snippet(problem.location, lines, problem.path))
    if problem.hint:
        out.append(f"  hint: {problem.hint}")
    return "\n".join(out)


_SECRET_PATH_KEYS = frozenset({"api_key", "api_keys", "password", "auth", "headers", "env", "token"})
"""A source line shown for a problem under one of these keys has its value masked (an MCP server's
``env:`` and ``headers:`` values, its ``auth:``, are secrets as often as not)."""
_LINE_VALUE = re.compile(r"^(\s*(?:-\s*)?(?:[\w-]+\s*:\s*)?)\S.*$")


def _snippet(location: Location, lines: Sequence[str], path: JsonPath | None = None) -> list[str]:
    index = min(location.line, len(lines)) - 1
    if index < 0:
        return []
    text = mask_secrets(lines[index].rstrip("\r\n"))
    if path and any(part in _SECRET_PATH_KEYS for part in path if isinstance(part, str)):
        text = _LINE_VALUE.sub(r"\1***", text)  # e.g. a key on its own list line
    # past the end of the file: point after the last line
    column = len(text) + 1 if location.line > len(lines) else max(location.column, 1)
    number = str(index + 1)
    pad = "".join("\t" if char == "\t" else " " for char in text[: column - 1])
    gutter = " " * (len(number) + 4)
    return [f"    {number} | {text}", f"{gutter} | {pad}^"]


def format_problems(problems: Sequence[Problem], source_name: str, lines: Sequence[str] | None) -> list[str]:
    """Every problem formatted, in file order, duplicates removed."""
    seen: set[str] = set()
    out: list[str] = []
    for problem in sorted(problems, key=Problem.sort_key):
        text = format_problem(problem, source_name, lines)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


__all__ = [
    "JsonPath",
    "Location",
    "PathPart",
    "Problem",
    "did_you_mean",
    "format_problem",
    "format_problems",
    "json_path",
    "mask_secrets",
]
