"""``load_config``: read, interpolate, validate and type a config file, reporting every problem at once.

The steps, none of which creates a file or opens a connection:

1. read the file (UTF-8) and compose the YAML node tree (syntax errors stop here, with the line);
2. walk the tree into plain data, recording the position of every key and value, rejecting
   duplicate keys and interpolating ``${VAR}`` / ``${VAR:-default}`` in string values;
3. validate against the JSON Schema (all errors, each turned into expected/found/hint wording);
4. check what the schema cannot say (agent names unique and safe, durations, settings that would
   silently do nothing);
5. build the typed :class:`~aixgo.config.model.Config`.

Any problem in steps 1-4 raises one :class:`~aixgo.errors.ConfigError` listing them all.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from aixgo.config.convert import semantic_problems, semantic_warnings, to_config
from aixgo.config.model import Config
from aixgo.config.problems import Problem, format_problems
from aixgo.config.schema import schema_problems
from aixgo.config.source import Marks, YamlSyntaxError, read_document
from aixgo.config.tool_refs import tool_import_problems
from aixgo.errors import ConfigError
from aixgo.logs import get_logger

log = get_logger("aixgo.config")


def load_config(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    sections: Collection[str] | None = None,
    import_tools: bool = False,
) -> Config:
    """Load the config file at ``path``.

    ``env`` replaces :data:`os.environ` for ``${VAR}`` interpolation. ``sections`` (such as ``{"session"}``,
    for ``aixgo sessions --config``) reads only those top-level sections: a problem elsewhere (an unset
    ``${OPENAI_API_KEY}`` under ``llm:``) does not count, and the other sections are left at their defaults.
    ``import_tools`` also imports every ``module:function`` tool, reporting one that does not import as a
    problem of the file (``aixgo validate``). Relative paths inside the file are resolved against the
    file's folder. Raises :class:`~aixgo.errors.ConfigError` listing every problem (``exc.problems``), each
    as ``file:line:column: json.path: message`` plus a hint, and the warnings (``exc.warnings``).
    """
    name = os.fspath(path)
    try:
        raw = Path(name).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"{name}: cannot read the config file: {reason}", path=name) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        message = f"{name}:{line}: the file is not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        raise ConfigError(message + "\n  hint: save the file as UTF-8", path=name) from None
    absolute = Path(name).absolute()
    return parse_config(text, path=name, base_dir=absolute.parent, env=env, config_path=absolute,
                        sections=sections, import_tools=import_tools)


def parse_config(
    text: str,
    *,
    path: str | os.PathLike[str] = "<string>",
    base_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    sections: Collection[str] | None = None,
    import_tools: bool = False,
) -> Config:
    """Load a config from YAML ``text``; ``path`` names it in messages, ``base_dir`` anchors relative paths
    (default: the current directory); ``sections`` and ``import_tools`` as for :func:`load_config`."""
    name = os.fspath(path)
    lines = text.splitlines()
    try:
        document = read_document(text, os.environ if env is None else env)
    except YamlSyntaxError as exc:
        _raise(name, [exc.problem], lines)
    problems = list(document.problems)
    data = document.data
    if sections is not None and isinstance(data, dict):
        data = {key: value for key, value in data.items() if key in sections}
        problems = [p for p in problems if not p.path or p.path[0] in sections]
    if data is None:
        problems.append(Problem((), "the file is empty",
                                "a config needs at least an 'agents:' list; see docs/config.md", None))
        _raise(name, problems, lines)
    semantic = semantic_problems(data, document.marks)
    if import_tools:
        semantic += tool_import_problems(data, document.marks)
    later = _without_repeats(schema_problems(data, document.marks), semantic)
    problems.extend(problem for problem in later if document.readable(problem))
    warnings = [w for w in document.warnings if sections is None or not w.path or w.path[0] in sections]
    warnings += [w for w in semantic_warnings(data, document.marks) if document.readable(w)]
    if problems:
        _raise(name, problems, lines, warnings)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    config = replace(to_config(data, config_path or Path(name).absolute(), base), source=name, marks=document.marks)
    if warnings:
        config = replace(config, warnings=tuple(format_problems(warnings, name, lines)))
    log.debug("config loaded", path=name, agents=len(config.agents), store=config.session.store)
    return config


def config_from_dict(
    data: Mapping[str, Any],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    name: str = "<dict>",
) -> Config:
    """Validate and type an already-parsed config (no interpolation; messages carry paths but no lines)."""
    plain = dict(data)
    problems = _without_repeats(schema_problems(plain, Marks()), semantic_problems(plain, Marks()))
    if problems:
        _raise(name, problems, None)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    config = to_config(plain, Path(name), base)
    warnings = semantic_warnings(plain, Marks())
    if warnings:
        config = replace(config, warnings=tuple(format_problems(warnings, name, None)))
    return config


def _without_repeats(schema: list[Problem], semantic: list[Problem]) -> list[Problem]:
    """The schema's problems, then the semantic ones at paths the schema did not already flag: a value
    is reported once, by the first rule it breaks (``window: 10`` by the schema's minimum, not again by
    the context budget's own check)."""
    flagged = {problem.path for problem in schema}
    return schema + [problem for problem in semantic if problem.path not in flagged]


def _raise(
    name: str, problems: list[Problem], lines: list[str] | None, warnings: Sequence[Problem] = ()
) -> NoReturn:
    formatted = format_problems(problems, name, lines)
    message = "\n".join(formatted)
    if len(formatted) > 1:
        message += f"\n{len(formatted)} problems in {name}"
    raise ConfigError(message, problems=formatted, path=name, warnings=format_problems(warnings, name, lines))


__all__ = ["config_from_dict", "load_config", "parse_config"]
