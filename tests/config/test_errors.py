"""Malformed configs: every problem names file:line:column, the JSON path, what was expected and found,
and carries a hint. Each case is a small file with exactly one problem."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from aixgo.config.problems import mask_secrets

from .conftest import VALID, config_problems


@dataclass(frozen=True)
class Case:
    text: str
    line: int
    column: int
    path: str | None  # None: no JSON path (YAML syntax errors, empty files)
    message: str
    hint: str
    env: tuple[tuple[str, str], ...] = ()


AGENT = "agents:\n  - name: assistant\n    model: gpt\n"  # lines 1-3; agent keys go on line 4+

CASES: dict[str, Case] = {
    # -- unknown keys: "did you mean", or where the key belongs, or what is allowed ----------------
    "top-level typo": Case(
        "agent:\n  - name: a\n    model: m\n", 1, 1, "agent", "unknown key 'agent'", "did you mean 'agents'?"
    ),
    "session typo": Case(
        "session:\n  stroe: file\n" + AGENT,
        2,
        3,
        "session.stroe",
        "unknown key 'stroe'",
        "did you mean 'store'?",
    ),
    "agent typo": Case(
        AGENT + "    max_step: 5\n",
        4,
        5,
        "agents[0].max_step",
        "unknown key 'max_step'",
        "did you mean 'max_steps'?",
    ),
    "llm key with dash": Case(
        "llm:\n  api-key: x\n" + AGENT,
        2,
        3,
        "llm.api-key",
        "unknown key 'api-key'",
        "did you mean 'api_key'?",
    ),
    "key in the wrong section": Case(
        AGENT + "    fsync: never\n",
        4,
        5,
        "agents[0].fsync",
        "unknown key 'fsync'",
        "'fsync' belongs under session:, not here",
    ),
    "redis key at session level": Case(
        "session:\n  key_prefix: x\n" + AGENT,
        2,
        3,
        "session.key_prefix",
        "unknown key 'key_prefix'",
        "belongs under session.redis:",
    ),
    "unknown top-level key": Case(
        AGENT + "colour: blue\n",
        4,
        1,
        "colour",
        "unknown key 'colour'",
        "allowed keys here: agents, llm, mcp_servers, observability, server, session (and x-... keys for YAML anchors)",
    ),
    "unknown key, nothing close": Case(
        "session:\n  colour: blue\n" + AGENT,
        2,
        3,
        "session.colour",
        "unknown key 'colour'",
        "allowed keys here: base_dir, cache_mb, checkpoint",
    ),
    # -- enums ---------------------------------------------------------------------------------------
    "store typo": Case(
        "session:\n  store: redus\n" + AGENT,
        2,
        10,
        "session.store",
        "expected one of 'file', 'redis', 'postgres', found the string 'redus'",
        "did you mean 'redis'?",
    ),
    "fsync typo": Case(
        "session:\n  fsync: alwys\n" + AGENT,
        2,
        10,
        "session.fsync",
        "expected one of 'always', 'batch', 'never'",
        "did you mean 'always'?",
    ),
    "role typo": Case(
        AGENT + "    role: reac\n",
        4,
        11,
        "agents[0].role",
        "expected one of 'react', found the string 'reac'",
        "did you mean 'react'?",
    ),
    "react_format typo": Case(
        AGENT + "    react_format: txt\n",
        4,
        19,
        "agents[0].react_format",
        "expected one of 'native', 'text'",
        "did you mean 'text'?",
    ),
    "provider typo": Case(
        "llm:\n  provider: openia\n" + AGENT,
        2,
        13,
        "llm.provider",
        "found the string 'openia'",
        "did you mean 'openai'?",
    ),
    # -- types -------------------------------------------------------------------------------------
    "quoted number": Case(
        AGENT + '    max_steps: "10"\n',
        4,
        16,
        "agents[0].max_steps",
        "expected a whole number, found the string '10'",
        "remove the quotes",
    ),
    "float for integer": Case(
        AGENT + "    max_steps: 2.5\n",
        4,
        16,
        "agents[0].max_steps",
        "expected a whole number, found the number 2.5",
        "use a whole number",
    ),
    "number for string": Case(
        "agents:\n  - name: a\n    model: 42\n",
        3,
        12,
        "agents[0].model",
        "expected a string, found the number 42",
        "put the value in quotes",
    ),
    "yes is a boolean": Case(
        AGENT + "    prompt: yes\n",
        4,
        13,
        "agents[0].prompt",
        "expected a string, found the boolean true",
        "unquoted yes/no/on/off",
    ),
    "date for string": Case(
        "agents:\n  - name: a\n    model: 2024-01-01\n",
        3,
        12,
        "agents[0].model",
        "found the date 2024-01-01",
        "put the value in quotes",
    ),
    "empty value": Case(
        "agents:\n  - name: a\n    model:\n",
        3,
        11,
        "agents[0].model",
        "expected a string, found nothing (an empty value)",
        "the value is empty",
    ),
    "string for boolean": Case(
        'session:\n  enabled: "true"\n' + AGENT,
        2,
        12,
        "session.enabled",
        "expected true or false, found the string 'true'",
        "remove the quotes",
    ),
    "string for list": Case(
        AGENT + "    tools: calculator\n",
        4,
        12,
        "agents[0].tools",
        "expected a list, found the string 'calculator'",
        "tools: [calculator]",
    ),
    "mapping for list": Case(
        "agents:\n  name: a\n",
        2,
        3,
        "agents",
        "expected a list, found a mapping",
        "each item of a list starts with '- '",
    ),
    "list for mapping": Case(
        "session:\n  - store: file\n" + AGENT,
        2,
        3,
        "session",
        "expected a mapping (key: value lines), found a list of 1 item",
        "remove the '- '",
    ),
    "empty section": Case(
        "session:\n" + AGENT,
        1,
        9,
        "session",
        "expected a mapping (key: value lines), found nothing",
        "indent settings under",
    ),
    "top level is a list": Case(
        "- name: a\n",
        1,
        1,
        "(top level)",
        "expected a mapping (key: value lines), found a list",
        "remove the '- '",
    ),
    # -- ranges and lengths ---------------------------------------------------------------------------
    "max_steps zero": Case(
        AGENT + "    max_steps: 0\n",
        4,
        16,
        "agents[0].max_steps",
        "expected a number >= 1, found the number 0",
        "Maximum number of reasoning steps",
    ),
    "temperature too high": Case(
        AGENT + "    temperature: 3\n",
        4,
        18,
        "agents[0].temperature",
        "expected a number <= 2, found the number 3",
        "Sampling temperature, 0 to 2.",
    ),
    "negative db": Case(
        "session:\n  redis:\n    db: -1\n" + AGENT,
        3,
        9,
        "session.redis.db",
        "expected a number >= 0, found the number -1",
        "Database number",
    ),
    "empty key_prefix": Case(
        'session:\n  redis:\n    key_prefix: ""\n' + AGENT,
        3,
        17,
        "session.redis.key_prefix",
        "expected a non-empty string, found an empty string",
        "Prefix of every key",
    ),
    "no agents": Case(
        "agents: []\n", 1, 9, "agents", "expected at least 1 item, found an empty list", "add items under it"
    ),
    "name too long": Case(
        "agents:\n  - name: " + "a" * 129 + "\n    model: m\n",
        2,
        11,
        "agents[0].name",
        "expected at most 128 characters, found 129",
        "Unique name of the agent",
    ),
    # -- required ------------------------------------------------------------------------------------
    "missing model": Case(
        "agents:\n  - name: a\n    prompt: hi\n",
        2,
        5,
        "agents[0].model",
        "missing required key 'model'",
        "Model name sent to the server",
    ),
    "missing name": Case(
        "agents:\n  - model: m\n",
        2,
        5,
        "agents[0].name",
        "missing required key 'name'",
        "Unique name of the agent",
    ),
    # -- patterns ------------------------------------------------------------------------------------
    "bad tool reference": Case(
        AGENT + '    tools: [calculator, "my tool"]\n',
        4,
        25,
        "agents[0].tools[1]",
        "expected a tool reference such as calculator",
        "'module:function'",
    ),
    "bad module:function": Case(
        AGENT + '    tools: ["pkg.mod:"]\n',
        4,
        13,
        "agents[0].tools[0]",
        "found the string 'pkg.mod:'",
        "e.g. myapp.tools:search",
    ),
    "duplicate tool": Case(
        AGENT + "    tools: [calculator, calculator]\n",
        4,
        25,
        "agents[0].tools[1]",
        "the string 'calculator' is listed twice",
        "remove the repeated item (first at line 4)",
    ),
    "redis url scheme": Case(
        "session:\n  redis:\n    url: http://x:6379\n" + AGENT,
        3,
        10,
        "session.redis.url",
        "expected a redis URL such as redis://",
        "start the URL with redis://",
    ),
    "url given as addr": Case(
        "session:\n  redis:\n    addr: redis://h:1\n" + AGENT,
        3,
        11,
        "session.redis.addr",
        "expected a host:port address",
        "write it as 'url:'",
    ),
    "bad addr": Case(
        "session:\n  redis:\n    addr: my host\n" + AGENT,
        3,
        11,
        "session.redis.addr",
        "found the string 'my host'",
        "write host:port",
    ),
    "base_url scheme": Case(
        "llm:\n  base_url: localhost:8000/v1\n" + AGENT,
        2,
        13,
        "llm.base_url",
        "expected a http(s) URL",
        "start the URL with http:// or https://",
    ),
    # -- durations -----------------------------------------------------------------------------------
    "duration words": Case(
        "session:\n  store: redis\n  ttl: 5 minutes\n" + AGENT,
        3,
        8,
        "session.ttl",
        "expected a duration such as 250ms, 30s, 5m, 1h30m, found the string '5 minutes'",
        "units are ms, s, m, h, d",
    ),
    "negative duration": Case(
        "llm:\n  timeout: -3\n" + AGENT,
        2,
        12,
        "llm.timeout",
        "expected a duration",
        "durations cannot be negative",
    ),
    "zero duration": Case(
        "session:\n  store: redis\n  ttl: 0s\n" + AGENT,
        3,
        8,
        "session.ttl",
        "expected a duration of at least 1ms, found '0s'",
        "remove the key",
    ),
    "sub-millisecond timeout": Case(
        "llm:\n  timeout: 0.0001\n" + AGENT,
        2,
        12,
        "llm.timeout",
        "expected a duration of at least 1ms, found 0.0001",
        "remove the key",
    ),
    "braces in key_prefix": Case(
        "session:\n  redis:\n    key_prefix: 'a:{x}:'\n" + AGENT,
        3,
        17,
        "session.redis.key_prefix",
        "expected a key prefix such as aixgo:sessions:",
        "remove '{' and '}'",
    ),
    "huge duration": Case(
        "llm:\n  timeout: 99999999999d\n" + AGENT, 2, 12, "llm.timeout", "too large", "use a smaller duration"
    ),
    "agent llm duration": Case(
        AGENT + "    llm:\n      timeout: soon\n",
        5,
        16,
        "agents[0].llm.timeout",
        "expected a duration",
        "units are ms, s, m, h, d",
    ),
    # -- settings that would do nothing ------------------------------------------------------------
    "ttl with file store": Case(
        "session:\n  ttl: 30d\n" + AGENT,
        2,
        3,
        "session.ttl",
        "ttl is only supported by the redis and postgres stores",
        "aixgo sessions prune --older-than",
    ),
    "addr and url": Case(
        "session:\n  redis:\n    addr: h:1\n    url: redis://h:1\n" + AGENT,
        4,
        5,
        "session.redis.url",
        "set either addr or url, not both",
        "keep url",
    ),
    "password in url and key": Case(
        "session:\n  redis:\n    url: redis://:pw@h:1\n    password: x\n" + AGENT,
        4,
        5,
        "session.redis.password",
        "the url already sets the password",
        "remove password: here, or remove it from the url",
    ),
    "db in url and key": Case(
        "session:\n  redis:\n    url: redis://h:1/3\n    db: 3\n" + AGENT,
        4,
        5,
        "session.redis.db",
        "the url already sets the database",
        "remove db: here",
    ),
    "script with openai": Case(
        "llm:\n  script: [hello]\n" + AGENT,
        2,
        3,
        "llm.script",
        "script is only used by the scripted provider",
        "provider: scripted",
    ),
    "agent script with openai": Case(
        AGENT + "    llm: {script: [hi]}\n",
        4,
        11,
        "agents[0].llm.script",
        "only used by the scripted provider",
        "provider: scripted",
    ),
    # -- agent names -----------------------------------------------------------------------------------
    "duplicate agent name": Case(
        AGENT + "  - name: assistant\n    model: m\n",
        4,
        11,
        "agents[1].name",
        "duplicate agent name 'assistant'",
        "agents[0] at line 2 is already called",
    ),
    "agent name with slash": Case(
        'agents:\n  - name: "team/a"\n    model: m\n',
        2,
        11,
        "agents[0].name",
        "contains a path separator",
        "also names its folder",
    ),
    "agent name with dots": Case(
        'agents:\n  - name: "a..b"\n    model: m\n',
        2,
        11,
        "agents[0].name",
        "contains '..'",
        "also names its folder",
    ),
    # -- YAML itself -----------------------------------------------------------------------------------
    "duplicate key": Case(
        "agents:\n  - name: a\n    model: m\n    model: n\n",
        4,
        5,
        "agents[0].model",
        "duplicate key 'model'",
        "already set at line 3",
    ),
    "duplicate section": Case(
        VALID + "session:\n  fsync: never\n",
        6,
        1,
        "session",
        "duplicate key 'session'",
        "already set at line 1",
    ),
    "complex key": Case(
        "? [a, b]\n: 1\n" + AGENT,
        1,
        3,
        "(top level)",
        "keys must be plain text, found a list",
        "write the key as a word",
    ),
    "python tag": Case(
        AGENT + "    prompt: !!python/name:os.system\n",
        4,
        13,
        "agents[0].prompt",
        "cannot read this value",
        "remove the '!tag'",
    ),
    "tab indentation": Case(
        "agents:\n\t- name: a\n", 2, 1, None, "YAML syntax error: found character '\\t'", "use spaces"
    ),
    "unclosed quote": Case(
        'agents:\n  - name: "a\n    model: m\n', 2, 11, None, "YAML syntax error", "a quote is not closed"
    ),
    "colon in value": Case(
        AGENT + "    prompt: Note: be brief\n",
        4,
        17,
        None,
        "mapping values are not allowed here",
        "quote a value that contains ': '",
    ),
    "unclosed bracket": Case(
        AGENT + "    tools: [calculator\n", 4, 12, None, "YAML syntax error", "a '[' or '{' is not closed"
    ),
    "two documents": Case(
        VALID + "---\nagents: []\n", 6, 1, None, "but found another document", "keep only one"
    ),
    "undefined alias": Case(
        AGENT + "    prompt: *nothing\n", 4, 13, None, "found undefined alias 'nothing'", "define the anchor"
    ),
    # -- interpolation -------------------------------------------------------------------------------
    "missing variable": Case(
        "llm:\n  api_key: ${OPENAI_API_KEY}\n" + AGENT,
        2,
        12,
        "llm.api_key",
        "environment variable OPENAI_API_KEY is not set",
        "give a default: ${OPENAI_API_KEY:-default}",
    ),
    "missing variable mid-string": Case(
        AGENT + "    prompt: Hello ${WHO} there\n",
        4,
        19,
        "agents[0].prompt",
        "environment variable WHO is not set",
        "export WHO=...",
    ),
    "malformed variable": Case(
        AGENT + "    prompt: ${1ST}\n",
        4,
        13,
        "agents[0].prompt",
        "invalid variable reference '${1ST}'",
        "for a literal '${' write '$${'",
    ),
    "unterminated variable": Case(
        AGENT + "    prompt: 'cost ${X'\n",
        4,
        13,
        "agents[0].prompt",
        "unterminated variable reference",
        "write ${NAME} or ${NAME:-default}",
    ),
}


def _head(problem: str) -> str:
    return problem.splitlines()[0]


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_malformed_config(case: Case) -> None:
    problems = config_problems(case.text, env=dict(case.env))
    assert len(problems) == 1, "\n\n".join(problems)
    problem = problems[0]
    head = _head(problem)
    prefix = f"cfg.yaml:{case.line}:{case.column}: "
    if case.path is not None:
        prefix += f"{case.path}: "
    assert head.startswith(prefix), problem
    assert case.message in head, problem
    hints = [line for line in problem.splitlines() if line.startswith("  hint: ")]
    assert len(hints) == 1, problem
    assert case.hint in hints[0], problem


def test_there_are_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(
    "case",
    [c for c in CASES.values() if c.line <= c.text.count("\n")][:12],
    ids=[n for n, c in CASES.items() if c.line <= c.text.count("\n")][:12],
)
def test_problem_shows_the_source_line_with_a_caret(case: Case) -> None:
    problem = config_problems(case.text, env=dict(case.env))[0]
    lines = problem.splitlines()
    source = mask_secrets(case.text.splitlines()[case.line - 1])  # e.g. "api-key: ***": a key that looks secret
    assert lines[1] == f"    {case.line} | {source}"
    caret = lines[2]
    gutter = " " * (len(str(case.line)) + 4) + " | "
    assert caret.startswith(gutter)
    assert (
        caret[len(gutter) :] == "".join("\t" if ch == "\t" else " " for ch in source[: case.column - 1]) + "^"
    )


def test_all_problems_are_reported_at_once_in_file_order() -> None:
    text = """\
    session:
      store: redus
      fsync: sometimes
    llm:
      timeout: forever
    agents:
      - name: a
        model: m
        max_step: 3
      - name: a
        model: 5
    """
    problems = config_problems(text)
    heads = [_head(problem) for problem in problems]
    assert [head.split(":")[1] for head in heads] == ["2", "3", "5", "9", "10", "11"]
    assert "session.store" in heads[0]
    assert "session.fsync" in heads[1]
    assert "llm.timeout" in heads[2]
    assert "agents[0].max_step" in heads[3]
    assert "duplicate agent name 'a'" in heads[4]
    assert "agents[1].model" in heads[5]


def test_message_joins_problems_and_counts_them() -> None:
    from aixgo.config import parse_config
    from aixgo.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config("session: {store: x, fsync: y}\n" + AGENT, path="cfg.yaml", env={})
    message = str(info.value)
    assert message.endswith("\n2 problems in cfg.yaml")
    assert all(problem in message for problem in info.value.problems)


def test_single_problem_message_has_no_count() -> None:
    from aixgo.config import parse_config
    from aixgo.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config("session: {store: x}\n" + AGENT, path="cfg.yaml", env={})
    assert str(info.value) == info.value.problems[0]


def test_several_missing_variables_are_all_named() -> None:
    problems = config_problems(
        "llm:\n  api_key: ${KEY}\n  base_url: ${URL}\nagents:\n  - name: ${NAME}\n    model: m\n"
    )
    assert [re.search(r"variable (\w+)", p).group(1) for p in problems] == ["KEY", "URL", "NAME"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        "llm: {api_key: sk-live-abcdef, timeout: soon}\n" + AGENT,
        "session: {redis: {url: 'redis://user:hunter2@h:1/0', db: x}}\n" + AGENT,
        "session: {redis: {password: hunter2, db: x}}\n" + AGENT,
    ],
)
def test_secrets_never_appear_in_messages(text: str) -> None:
    problems = config_problems(text)
    joined = "\n".join(problems)
    assert problems
    assert "sk-live-abcdef" not in joined
    assert "hunter2" not in joined


def test_secret_with_wrong_type_is_hidden() -> None:
    problems = config_problems("session:\n  redis:\n    password: [hunter2]\n" + AGENT)
    assert "expected a string, found a list of 1 item" in problems[0]
    problems = config_problems("llm:\n  api_key: sk-x\n  provider: scripted\n  timeout: x\n" + AGENT)
    assert "sk-x" not in "\n".join(problems)


def test_empty_file() -> None:
    problems = config_problems("# only a comment\n")
    assert problems == [
        "cfg.yaml: (top level): the file is empty\n  hint: a config needs at least an 'agents:' list; "
        "see docs/config.md"
    ]


def test_merge_keys_and_anchors_work_and_keep_positions() -> None:
    from .conftest import load_text

    config = load_text(
        """\
        llm: &defaults
          timeout: 30s
          max_retries: 2
        agents:
          - name: a
            model: m
            llm:
              <<: *defaults
              max_retries: 5
        """
    )
    assert config.agents[0].llm.timeout == 30.0
    assert config.agents[0].llm.max_retries == 5
    problems = config_problems(
        """\
        x-base: &b {timeout: soon}
        agents:
          - name: a
            model: m
            llm:
              <<: *b
        """
    )
    assert len(problems) == 1, problems
    assert _head(problems[0]).startswith("cfg.yaml:1:22: agents[0].llm.timeout: expected a duration")
