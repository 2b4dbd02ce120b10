"""${VAR} interpolation: the function itself and how the loader applies it."""

from __future__ import annotations

import pytest

from aixgo.config import InterpolationError, interpolate
from aixgo.config.interpolate import is_single_reference

from .conftest import VALID, config_problems, load_text


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("pre-${A}-post", {"A": "x"}, "pre-x-post"),
        ("${A}${B}", {"A": "1", "B": "2"}, "12"),
        ("${A:-fallback}", {}, "fallback"),
        ("${A:-fallback}", {"A": ""}, "fallback"),
        ("${A:-fallback}", {"A": "set"}, "set"),
        ("${A:-}", {}, ""),
        ("${A}", {"A": ""}, ""),
        ("$${A}", {"A": "x"}, "${A}"),
        ("pa$$word $HOME $", {}, "pa$$word $HOME $"),
        ("${A:-a:b-c}", {}, "a:b-c"),
        ("no refs", {}, "no refs"),
    ],
)
def test_interpolate(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(text, env) == expected


@pytest.mark.parametrize(
    ("text", "variable", "offset", "message"),
    [
        ("${MISSING}", "MISSING", 0, "environment variable MISSING is not set"),
        ("ab ${X", None, 3, "unterminated variable reference"),
        ("${1X}", None, 0, "invalid variable reference '${1X}'"),
        ("${}", None, 0, "invalid variable reference"),
        ("${A-b}", None, 0, "invalid variable reference"),
        ("${A:-${B}}", "A", 0, "cannot contain another reference"),
    ],
)
def test_interpolate_errors(text: str, variable: str | None, offset: int, message: str) -> None:
    with pytest.raises(InterpolationError, match=message.replace("$", r"\$").replace("{", r"\{")) as info:
        interpolate(text, {})
    assert info.value.variable == variable
    assert info.value.offset == offset
    assert info.value.hint


def test_single_reference() -> None:
    assert is_single_reference("${A}")
    assert is_single_reference("${A:-10}")
    assert not is_single_reference("x${A}")
    assert not is_single_reference("${A}${B}")


def test_loader_interpolates_values_and_types_unquoted_single_references() -> None:
    config = load_text(
        """\
        session:
          store: redis
          redis:
            addr: ${REDIS_HOST:-localhost}:${REDIS_PORT}
            db: ${REDIS_DB:-3}
            key_prefix: "${PREFIX:-app}:"
        llm:
          api_key: ${OPENAI_API_KEY}
        agents:
          - name: ${AGENT:-helper}
            model: gpt
            prompt: "Costs $$5, literal $${NAME}"
        """,
        env={"REDIS_PORT": "6380", "OPENAI_API_KEY": "sk-test"},
    )
    assert config.session.redis is not None
    assert config.session.redis.addr == "localhost:6380"
    assert config.session.redis.db == 3  # unquoted: typed like YAML
    assert config.session.redis.key_prefix == "app:"
    assert config.llm.api_key == "sk-test"
    assert config.agents[0].name == "helper"
    assert config.agents[0].prompt == "Costs $$5, literal ${NAME}"


def test_empty_substitution_is_an_empty_string_and_empty_secrets_mean_none() -> None:
    config = load_text(
        """\
        session:
          redis:
            password: ${REDIS_PASSWORD:-}
        llm:
          api_key: ${OPENAI_API_KEY:-}
        agents:
          - name: a
            model: m
            prompt: ${PROMPT:-}
        """
    )
    assert config.agents[0].prompt == ""
    assert config.session.redis is not None
    assert config.session.redis.password is None
    assert config.llm.api_key is None


def test_quoted_single_reference_stays_a_string() -> None:
    problems = config_problems(
        """\
        agents:
          - name: a
            model: m
            max_steps: "${STEPS:-5}"
        """
    )
    assert len(problems) == 1
    assert "cfg.yaml:4:16: agents[0].max_steps: expected a whole number, found the string '5'" in problems[0]


def test_keys_are_not_interpolated() -> None:
    problems = config_problems(VALID + "${EXTRA}: 1\n", env={"EXTRA": "llm"})
    assert "unknown key '${EXTRA}'" in problems[0]


def test_defaults_come_from_os_environ_when_env_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from aixgo.config import parse_config

    monkeypatch.setenv("AIXGO_TEST_MODEL", "from-environ")
    config = parse_config("agents: [{name: a, model: '${AIXGO_TEST_MODEL}'}]")
    assert config.agents[0].model == "from-environ"
