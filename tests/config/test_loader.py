"""Loading valid configs: typed objects, defaults, paths, merging, and reading files."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from aixgo.config import (
    AgentConfig,
    CheckpointConfig,
    Config,
    LLMConfig,
    RedisConfig,
    SessionConfig,
    config_from_dict,
    load_config,
)
from aixgo.errors import AgentNotFoundError, ConfigError

from .conftest import SEED, VALID, load_text

WritePath = Callable[..., Path]


def test_seed_example_loads_unchanged(write_config: WritePath) -> None:
    path = write_config(SEED)
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.path == path.absolute()
    assert config.session == SessionConfig(
        enabled=True, store="file", base_dir=Path.home() / ".aixgo" / "sessions", fsync="always"
    )
    assert config.llm == LLMConfig()
    assert config.agents == [
        AgentConfig(
            name="assistant",
            model="gpt-4-turbo",
            role="react",
            prompt="You are a helpful assistant with memory.",
        )
    ]
    agent = config.agent("assistant")
    assert agent.max_steps == 10
    assert agent.tools == []
    assert agent.temperature is None
    assert agent.react_format == "native"


def test_defaults_of_a_minimal_config() -> None:
    config = load_text("agents: [{name: a, model: m}]\n")
    assert config.session.enabled is True
    assert config.session.store == "file"
    assert config.session.base_dir == Path(os.path.expanduser("~/.aixgo/sessions"))
    assert config.session.ttl is None
    assert config.session.redis is None
    assert config.session.checkpoint == CheckpointConfig(auto_save=False, interval=None)
    assert config.llm.provider == "openai"
    assert config.agents[0].llm == LLMConfig()


def test_every_field(tmp_path: Path) -> None:
    config = load_text(
        """\
        $schema: ../schemas/aixgo.schema.json
        session:
          enabled: false
          store: redis
          base_dir: data/sessions
          fsync: batch
          ttl: 1h30m
          redis:
            url: rediss://cache:6380
            password: secret
            db: 4
            key_prefix: "app:"
            pool_size: 8
            socket_timeout: 250ms
            connect_timeout: 2
            retries: 5
          checkpoint:
            auto_save: true
            interval: 5m
        llm:
          provider: openai
          base_url: http://localhost:11434/v1
          api_key: sk-test
          timeout: 1m
          max_retries: 4
        agents:
          - name: coder
            role: react
            model: qwen2.5
            prompt: Write code.
            tools: [calculator, current_time, "myapp.tools:search", "pkg.sub.mod:Class.method"]
            max_steps: 20
            temperature: 0
            max_history_messages: 50
            react_format: text
            llm:
              timeout: 2m
          - name: offline
            model: scripted
            llm:
              provider: scripted
              script: [first reply, second reply]
        """,
        base_dir=tmp_path,
    )
    session = config.session
    assert session.enabled is False
    assert session.store == "redis"
    assert session.base_dir == tmp_path / "data" / "sessions"
    assert session.fsync == "batch"
    assert session.ttl == timedelta(hours=1, minutes=30)
    assert session.redis == RedisConfig(
        addr=None,
        url="rediss://cache:6380",
        password="secret",
        db=4,
        key_prefix="app:",
        pool_size=8,
        socket_timeout=0.25,
        connect_timeout=2.0,
        retries=5,
    )
    assert session.checkpoint == CheckpointConfig(auto_save=True, interval=timedelta(minutes=5))
    assert config.llm == LLMConfig(
        provider="openai",
        base_url="http://localhost:11434/v1",
        api_key="sk-test",
        timeout=60.0,
        max_retries=4,
    )
    coder = config.agent("coder")
    assert coder.tools == ["calculator", "current_time", "myapp.tools:search", "pkg.sub.mod:Class.method"]
    assert (coder.max_steps, coder.temperature, coder.max_history_messages) == (20, 0.0, 50)
    assert isinstance(coder.temperature, float)
    assert coder.react_format == "text"
    assert coder.prompt == "Write code."
    # the agent's llm block is merged over the top-level one
    assert coder.llm == LLMConfig(
        provider="openai",
        base_url="http://localhost:11434/v1",
        api_key="sk-test",
        timeout=120.0,
        max_retries=4,
    )
    offline = config.agent("offline")
    assert offline.llm.provider == "scripted"
    assert offline.llm.script == ["first reply", "second reply"]
    assert offline.llm.base_url == "http://localhost:11434/v1"  # inherited, unused by the scripted model


def test_secrets_are_not_in_repr() -> None:
    config = load_text(
        """\
        session:
          store: redis
          redis: {url: "redis://user:hunter2@h:1/0"}
        llm: {api_key: sk-live-123}
        agents: [{name: a, model: m}]
        """
    )
    text = repr(config)
    assert "hunter2" not in text
    assert "sk-live-123" not in text
    assert "redis://***@h:1/0" in text
    assert config.session.redis is not None
    assert config.session.redis.safe_target == "redis://***@h:1/0"
    assert config.session.redis.target == "redis://user:hunter2@h:1/0"


@pytest.mark.parametrize(
    ("block", "target"),
    [
        ("", "localhost:6379"),
        ("  redis: {}\n", "localhost:6379"),
        ("  redis: {addr: cache.internal}\n", "cache.internal:6379"),
        ("  redis: {addr: 'cache:6380'}\n", "cache:6380"),
        ("  redis: {addr: '[::1]'}\n", "[::1]:6379"),
        ("  redis: {addr: '[::1]:7000'}\n", "[::1]:7000"),
        ("  redis: {url: 'unix:///run/redis.sock'}\n", "unix:///run/redis.sock"),
    ],
)
def test_redis_target(block: str, target: str) -> None:
    config = load_text("session:\n  store: redis\n" + block + "agents: [{name: a, model: m}]\n")
    assert config.session.redis is not None
    assert config.session.redis.target == target
    assert config.session.redis.key_prefix == "aixgo:sessions:"


def test_redis_block_is_kept_with_the_file_store() -> None:
    config = load_text("session:\n  redis: {addr: 'h:1'}\nagents: [{name: a, model: m}]\n")
    assert config.session.store == "file"
    assert config.session.redis is not None and config.session.redis.addr == "h:1"


@pytest.mark.parametrize(
    ("base_dir", "expected"),
    [
        ("~/.aixgo/sessions", lambda cfg_dir: Path.home() / ".aixgo" / "sessions"),
        ("sessions", lambda cfg_dir: cfg_dir / "sessions"),
        ("./a/../b", lambda cfg_dir: cfg_dir / "b"),
        ("../state", lambda cfg_dir: cfg_dir.parent / "state"),
        ("/var/lib/aixgo", lambda cfg_dir: Path("/var/lib/aixgo")),
        ("${STATE:-~/state}/aixgo", lambda cfg_dir: Path.home() / "state" / "aixgo"),
    ],
)
def test_base_dir_is_resolved_against_the_config_folder(
    write_config: WritePath,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    base_dir: str,
    expected: Callable[[Path], Path],
) -> None:
    path = write_config(
        f"session:\n  base_dir: {base_dir}\nagents: [{{name: a, model: m}}]\n", "sub/cfg.yaml"
    )
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    config = load_config(Path("sub/cfg.yaml"))
    assert config.path == path
    assert config.session.base_dir == expected(tmp_path / "sub")


def test_agent_lookup_names_the_available_agents() -> None:
    config = load_text("agents: [{name: a, model: m}, {name: b, model: m}]\n")
    assert config.agent_names == ["a", "b"]
    with pytest.raises(AgentNotFoundError, match=r"no agent named 'c' in .*cfg\.yaml \(available: a, b\)"):
        config.agent("c")


def test_config_objects_are_frozen() -> None:
    config = load_text(VALID)
    with pytest.raises(AttributeError):
        config.session.store = "redis"  # type: ignore[misc]


def test_agents_are_optional() -> None:
    config = load_text("session: {store: file}\n")
    assert config.agents == []
    assert config.agent_names == []


def test_extension_keys_are_ignored() -> None:
    config = load_text("x-prompt: &p Be brief.\nagents: [{name: a, model: m, prompt: *p}]\n")
    assert config.agents[0].prompt == "Be brief."


def test_yaml_one_point_one_booleans_are_booleans() -> None:
    config = load_text("session: {enabled: no}\nagents: [{name: a, model: m}]\n")
    assert config.session.enabled is False


# -- reading files --------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert (
        str(info.value) == f"{tmp_path / 'nope.yaml'}: cannot read the config file: No such file or directory"
    )
    assert info.value.path == str(tmp_path / "nope.yaml")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file: Is a directory"):
        load_config(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"agents:\n  - name: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:2: the file is not UTF-8 text (byte 0xe9)")
    assert "hint: save the file as UTF-8" in str(info.value)


def test_utf8_bom_and_crlf_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "windows.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + VALID.replace("\n", "\r\n").encode())
    assert load_config(path).agent_names == ["assistant"]


def test_error_names_the_path_as_given(
    write_config: WritePath, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config("agents: [{name: a}]\n", "conf/bad.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("conf/bad.yaml")
    assert info.value.problems[0].startswith(
        "conf/bad.yaml:1:10: agents[0].model: missing required key 'model'"
    )
    assert info.value.path == "conf/bad.yaml"


def test_load_config_reads_os_environ(write_config: WritePath, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config("agents: [{name: a, model: '${AIXGO_TEST_MODEL:-x}'}]\n")
    monkeypatch.setenv("AIXGO_TEST_MODEL", "env-model")
    assert load_config(path).agents[0].model == "env-model"
    assert load_config(path, env={}).agents[0].model == "x"


# -- config_from_dict ---------------------------------------------------------------------------


def test_config_from_dict(tmp_path: Path) -> None:
    config = config_from_dict(
        {"session": {"base_dir": "s"}, "agents": [{"name": "a", "model": "m", "tools": ["calculator"]}]},
        base_dir=tmp_path,
    )
    assert config.session.base_dir == tmp_path / "s"
    assert config.agents[0].tools == ["calculator"]


def test_config_from_dict_reports_paths_without_lines() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"agents": [{"name": "a", "model": "m", "max_step": 1}], "session": {"ttl": "1d"}})
    assert info.value.problems == [
        "<dict>: agents[0].max_step: unknown key 'max_step'\n  hint: did you mean 'max_steps'?",
        "<dict>: session.ttl: ttl is only supported by the redis and postgres stores\n"
        "  hint: file sessions never expire on their own: delete old ones with "
        "`aixgo sessions prune --older-than 30d`, or set store: redis or postgres",
    ]


def test_redis_password_is_masked_in_repr() -> None:
    text = repr(RedisConfig(password="pw-secret"))
    assert "pw-secret" not in text
    assert "password='***'" in text
