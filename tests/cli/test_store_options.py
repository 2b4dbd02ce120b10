"""Choosing the store: ``--config`` / ``AIXGO_CONFIG`` or ``--store/--base-dir/--redis-url``, before or after
the subcommand."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from aixgo.session import FileBackend, Manager
from tests.cli.conftest import SeededStore, invoke
from tests.session.redis_server import free_port


def _ids(result_stdout: str) -> list[str]:
    return [item["id"] for item in json.loads(result_stdout)]


def _config(tmp_path: Path, base_dir: Path, name: str = "aixgo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"session:\n  store: file\n  base_dir: {base_dir}\n  fsync: never\n")
    return path


def test_options_before_or_after_the_subcommand(
    sessions_runner: CliRunner, seeded_store: SeededStore, tmp_path: Path
) -> None:
    store = str(seeded_store.base_dir)
    empty = str(tmp_path / "empty")
    before = invoke(sessions_runner, ["sessions", "--base-dir", store, "list", "--json"])
    after = invoke(sessions_runner, ["sessions", "list", "--json", "--base-dir", store])
    assert _ids(before.stdout) == _ids(after.stdout) == ["code-1", "chat-2", "chat-1"]
    overridden = invoke(
        sessions_runner, ["sessions", "--base-dir", empty, "list", "--json", "--base-dir", store]
    )
    assert _ids(overridden.stdout) == ["code-1", "chat-2", "chat-1"]  # the later value wins


def test_default_store_is_home(sessions_runner: CliRunner) -> None:
    with Manager(FileBackend("~/.aixgo/sessions")) as mgr:
        mgr.create("assistant", "at-home")
    result = invoke(sessions_runner, ["sessions", "list", "--json"])
    assert _ids(result.stdout) == ["at-home"]
    assert (Path.home() / ".aixgo" / "sessions" / "assistant" / "at-home.jsonl").exists()


def test_config_option_and_env(sessions_runner: CliRunner, seeded_store: SeededStore, tmp_path: Path) -> None:
    config = _config(tmp_path, seeded_store.base_dir)
    by_option = invoke(sessions_runner, ["sessions", "--config", str(config), "list", "--json"])
    assert by_option.exit_code == 0, by_option.output
    assert _ids(by_option.stdout) == ["code-1", "chat-2", "chat-1"]
    after = invoke(sessions_runner, ["sessions", "show", "chat-2", "--config", str(config)])
    assert "[1] user" in after.stdout
    by_env = invoke(sessions_runner, ["sessions", "list", "--json"], env={"AIXGO_CONFIG": str(config)})
    assert _ids(by_env.stdout) == ["code-1", "chat-2", "chat-1"]
    # explicit store flags override the environment's config
    other = tmp_path / "other"
    flags = invoke(
        sessions_runner,
        ["sessions", "list", "--json", "--base-dir", str(other)],
        env={"AIXGO_CONFIG": str(config)},
    )
    assert flags.exit_code == 0 and _ids(flags.stdout) == []
    # an explicit --config overrides the environment's
    empty_config = _config(tmp_path, other, "other.yaml")
    explicit = invoke(
        sessions_runner,
        ["sessions", "list", "--json", "--config", str(empty_config)],
        env={"AIXGO_CONFIG": str(config)},
    )
    assert _ids(explicit.stdout) == []


def test_contradictory_options(sessions_runner: CliRunner, seeded_store: SeededStore, tmp_path: Path) -> None:
    config = str(_config(tmp_path, seeded_store.base_dir))
    cases = {
        ("--config", config, "--base-dir", "x"): "--config cannot be combined with --base-dir",
        (
            "--config",
            config,
            "--store",
            "redis",
            "--redis-url",
            "h:1",
        ): "--config cannot be combined with --store, --redis-url",
        ("--store", "file", "--redis-url", "localhost:6379"): "--redis-url needs --store redis",
        ("--store", "redis", "--base-dir", "x"): "--base-dir applies to the file store only",
        (
            "--store",
            "s3",
        ): "Invalid value for '--store'",
    }
    for args, message in cases.items():
        result = invoke(sessions_runner, ["sessions", "list", *args])
        assert result.exit_code == 2, args
        assert message in result.stderr, (args, result.stderr)
    split = invoke(sessions_runner, ["sessions", "--config", config, "list", "--base-dir", "x"])
    assert split.exit_code == 2 and "--config cannot be combined with --base-dir" in split.stderr


def test_config_errors_exit_2(sessions_runner: CliRunner, tmp_path: Path) -> None:
    disabled = tmp_path / "disabled.yaml"
    disabled.write_text("session:\n  enabled: false\n")
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("session:\n  store: nosuch\n")
    cases = {
        disabled: "sessions are disabled in",
        invalid: f"{invalid}:2:10: session.store: expected one of 'file', 'redis'",
        tmp_path / "missing.yaml": "cannot read the config file",
    }
    for path, message in cases.items():
        result = invoke(sessions_runner, ["sessions", "show", "x", "--config", str(path)])
        assert result.exit_code == 2, path
        assert message in result.stderr and "Traceback" not in result.output


def test_redis_url_errors(sessions_runner: CliRunner) -> None:
    malformed = invoke(
        sessions_runner, ["sessions", "list", "--store", "redis", "--redis-url", "http://example"]
    )
    assert malformed.exit_code == 2
    assert "Invalid value for '--redis-url': not a Redis address" in malformed.stderr
    port = free_port()
    unreachable = invoke(sessions_runner, ["sessions", "list", "--redis-url", f"127.0.0.1:{port}"])
    assert unreachable.exit_code == 1
    assert unreachable.stderr.startswith(f"error: cannot reach Redis at 127.0.0.1:{port}")
    assert len(unreachable.stderr.splitlines()) == 1


def test_help(sessions_runner: CliRunner) -> None:
    group = invoke(sessions_runner, ["sessions", "--help"])
    assert group.exit_code == 0
    for command in ("list", "show", "export", "import", "checkpoints", "restore", "delete", "prune"):
        assert f"\n  {command} " in group.stdout
    assert "AIXGO_CONFIG" in group.stdout
    sub = invoke(sessions_runner, ["sessions", "show", "-h"])
    assert "--config" in sub.stdout and "--redis-url" in sub.stdout and "--limit" in sub.stdout
