"""Reading a YAML config into plain data while remembering where every key and value came from.

PyYAML composes the node tree (which carries line/column marks); this module walks it, so every
JSON path (``agents[1].max_steps``) maps to a position in the file. On the way it rejects duplicate
keys and non-text keys, and interpolates ``${VAR}`` references in string values. Nothing here
touches the file system or the network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from aixgo.config.interpolate import InterpolationError, interpolate, is_single_reference
from aixgo.config.problems import JsonPath, Location, Problem

_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_OCTAL = re.compile(r"^[-+]?0[0-7_]+$")  # YAML 1.1: 010 is 8
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Marks:
    """Positions of values and keys by JSON path."""

    values: dict[JsonPath, Location] = field(default_factory=dict)
    keys: dict[JsonPath, Location] = field(default_factory=dict)
    #: Values written in quotes (``'true'``): a hint may say "remove the quotes" only for these.
    quoted: set[JsonPath] = field(default_factory=set)

    def value(self, path: JsonPath) -> Location | None:
        """Where the value at ``path`` starts (or its nearest known ancestor)."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return None

    def key(self, path: JsonPath) -> Location | None:
        """Where the key naming ``path`` is written (falls back to the value's position)."""
        return self.keys.get(path) or self.value(path)


@dataclass
class Document:
    """A parsed config: plain data, positions, and the problems found while reading it."""

    data: Any
    marks: Marks
    problems: list[Problem]
    #: Paths whose value could not be read (bad tag, failed interpolation): later checks skip them.
    unreadable: set[JsonPath] = field(default_factory=set)
    #: Values that read, but maybe not as meant (YAML 1.1 octal numbers such as ``010``).
    warnings: list[Problem] = field(default_factory=list)

    def readable(self, problem: Problem) -> bool:
        """False for a problem about (or inside) a value that could not be read."""
        path = problem.path
        return path is None or not any(path[: len(bad)] == bad for bad in self.unreadable)


class YamlSyntaxError(Exception):
    """The text is not valid YAML; ``problem`` says where and why."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(problem.message)


def read_document(text: str, env: Mapping[str, str]) -> Document:
    """Parse ``text`` into a :class:`Document`; raise :class:`YamlSyntaxError` if it is not YAML.

    An empty document yields ``data=None``.
    """
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise YamlSyntaxError(_syntax_problem(exc)) from None
    except yaml.YAMLError as exc:  # reader errors: invalid characters
        raise YamlSyntaxError(_reader_problem(exc, text)) from None
    finally:
        if loader is not None:
            loader.dispose()
    walker = _Walker(env)
    data = walker.walk(node, ()) if node is not None else None
    return Document(data, walker.marks, walker.problems, walker.unreadable, walker.warnings)


def _location(node: Node) -> Location:
    return Location(node.start_mark.line + 1, node.start_mark.column + 1)


class _Walker:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.marks = Marks()
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.unreadable: set[JsonPath] = set()
        self.constructor = SafeConstructor()
        self.resolver = Resolver()
        self.active: set[int] = set()

    def walk(self, node: Node, path: JsonPath) -> Any:
        self.marks.values.setdefault(path, _location(node))
        if isinstance(node, MappingNode | SequenceNode):
            if id(node) in self.active:
                self.problems.append(Problem(path, "recursive alias: this value contains itself",
                                             "remove the alias (*name) that refers to its own anchor",
                                             _location(node)))
                return None
            self.active.add(id(node))
            try:
                if isinstance(node, MappingNode):
                    return self._mapping(node, path)
                return [self.walk(item, (*path, index)) for index, item in enumerate(node.value)]
            finally:
                self.active.discard(id(node))
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        first_seen: dict[str, Location] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != _MERGE_TAG:
                key, where = str(key_node.value), _location(key_node)
                if key in first_seen:
                    self.problems.append(Problem(
                        (*path, key), f"duplicate key '{key}'",
                        f"'{key}' is already set at line {first_seen[key].line}; "
                        "YAML would silently keep only the last one: remove one of them",
                        where))
                else:
                    first_seen[key] = where
        try:
            self.constructor.flatten_mapping(node)  # applies `<<: *anchor` merge keys
        except ConstructorError as exc:
            mark = exc.problem_mark
            where = Location(mark.line + 1, mark.column + 1) if mark else _location(node)
            self.problems.append(Problem(path, f"invalid merge key: {exc.problem}",
                                         "'<<:' takes an alias of a mapping (<<: *defaults) or a list",
                                         where))
            return {}
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problems.append(Problem(path, "keys must be plain text, found a "
                                             + ("list" if isinstance(key_node, SequenceNode) else "mapping"),
                                             "write the key as a word, e.g. 'name:'", _location(key_node)))
                continue
            key = str(key_node.value)
            child = (*path, key)
            self.marks.keys[child] = _location(key_node)
            self.marks.values[child] = _location(value_node)
            result[key] = self.walk(value_node, child)
        return result

    def _scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        if node.style in ("'", '"'):
            self.marks.quoted.add(path)
        if node.tag == _STR_TAG and "${" in node.value:
            return self._interpolated(node, path)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except ConstructorError as exc:
            self.problems.append(Problem(path, f"cannot read this value: {exc.problem}",
                                         "aixgo configs use plain YAML values; remove the '!tag'",
                                         _location(node)))
            self.unreadable.add(path)
            return None
        if node.tag == _INT_TAG and _OCTAL.match(node.value) and not node.style:
            self.warnings.append(Problem(
                path, f"{node.value} is read as the octal number {value}, not {node.value.lstrip('0') or 0}",
                f"write {value} (or {node.value.lstrip('+-0') or 0} if you meant decimal), or quote it",
                _location(node)))
        return value

    def _interpolated(self, node: ScalarNode, path: JsonPath) -> Any:
        raw = str(node.value)
        try:
            text = interpolate(raw, self.env)
        except InterpolationError as exc:
            where = _location(node)
            if node.style is None and node.start_mark.line == node.end_mark.line:
                where = Location(where.line, where.column + exc.offset)
            self.problems.append(Problem(path, str(exc), exc.hint, where))
            self.unreadable.add(path)
            return raw
        if node.style is None and text and is_single_reference(raw):
            # An unquoted `${PORT:-6379}` is typed like YAML would type the text (a number here);
            # an empty result stays an empty string, never null.
            tag: str = self.resolver.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
            if tag != _STR_TAG:
                try:
                    return self.constructor.construct_object(
                        ScalarNode(tag, text, node.start_mark, node.end_mark), deep=True)
                except ConstructorError:
                    return text
        return text


def _syntax_problem(exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    at_end = "end of stream" in str(exc.problem) or "<stream end>" in str(exc.problem)
    if exc.context_mark is not None and at_end:
        mark = exc.context_mark  # an unclosed quote or bracket: point where it opens
    where = Location(mark.line + 1, mark.column + 1) if mark else None
    problem = str(exc.problem or exc.context or "invalid YAML")
    message = f"YAML syntax error: {problem}"
    context_mark = exc.context_mark
    if exc.context and context_mark is not None:
        message += f" ({exc.context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return Problem(None, message, _syntax_hint(problem, str(exc.context or "")), where)


def _syntax_hint(problem: str, context: str) -> str:
    if "'\\t'" in problem or "tab" in problem:
        return "YAML does not allow tabs for indentation: use spaces"
    if "mapping values are not allowed" in problem:
        return "quote a value that contains ': ', or check the indentation of this line"
    if "expected a single document" in problem or "but found another document" in problem:
        return "the file holds several YAML documents ('---'): keep only one"
    if "undefined alias" in problem:
        return "define the anchor (&name) before using the alias (*name)"
    if "flow sequence" in context or "flow mapping" in context:
        return "a '[' or '{' is not closed, or a value inside it needs quotes"
    if "quoted scalar" in context:
        return "a quote is not closed"
    if "could not find expected ':'" in problem:
        return "a key is missing its ':' or a quote is not closed"
    if "did not find expected key" in problem or "expected <block end>" in problem:
        return "check the indentation: items of one mapping or list must line up"
    if "found character '@'" in problem or "found character '`'" in problem:
        return "values starting with @ or ` must be quoted"
    return "check the indentation and quoting around this line"


def _reader_problem(exc: yaml.YAMLError, text: str) -> Problem:
    position = getattr(exc, "position", None)
    where = None
    if isinstance(position, int):
        before = text[:position]
        where = Location(before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1)
    character = getattr(exc, "character", None)
    reason = getattr(exc, "reason", "invalid character")
    what = f"U+{character:04X}" if isinstance(character, int) else repr(character)
    return Problem(None, f"YAML syntax error: {reason}: {what}",
                   "remove the control character (or save the file as UTF-8)", where)


__all__ = ["Document", "Marks", "YamlSyntaxError", "read_document"]
