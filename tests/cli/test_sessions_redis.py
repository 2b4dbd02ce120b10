"""``aixgo sessions`` against a real redis-server, and file store <-> Redis transfers that round-trip exactly."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cli.conftest import SeededStore, invoke
from tests.support.aging import age_session

pytestmark = pytest.mark.redis


def _redis(url: str, *args: str) -> list[str]:
    return ["sessions", *args, "--redis-url", url]


def test_file_to_redis_and_back_is_byte_identical(
    sessions_runner: CliRunner, seeded_store: SeededStore, cli_redis_url: str, tmp_path: Path
) -> None:
    for session_id in ("chat-1", "chat-2", "code-1"):
        from_file = invoke(sessions_runner, seeded_store.args("export", session_id))
        assert from_file.exit_code == 0, from_file.output
        dump = tmp_path / f"{session_id}.jsonl"
        dump.write_bytes(from_file.stdout_bytes)

        imported = invoke(sessions_runner, _redis(cli_redis_url, "import", str(dump)))
        assert imported.exit_code == 0, imported.output
        assert imported.stdout == f"{session_id}\n"
        assert f"into Redis store at {cli_redis_url}" in imported.stderr
        from_redis = invoke(sessions_runner, _redis(cli_redis_url, "export", session_id))
        assert from_redis.stdout_bytes == from_file.stdout_bytes

        back_dir = tmp_path / "back"
        back = invoke(
            sessions_runner,
            ["sessions", "import", "-", "--base-dir", str(back_dir)],
            input=from_redis.stdout_bytes,
        )
        assert back.exit_code == 0, back.output
        again = invoke(sessions_runner, ["sessions", "export", session_id, "--base-dir", str(back_dir)])
        assert again.stdout_bytes == from_file.stdout_bytes

    # the imported session is fully usable in Redis: same transcript, checksums verify on restore
    file_show = invoke(sessions_runner, seeded_store.args("show", "chat-1", "--json"))
    redis_show = invoke(sessions_runner, _redis(cli_redis_url, "show", "chat-1", "--json"))
    assert json.loads(redis_show.stdout)["entries"] == json.loads(file_show.stdout)["entries"]
    restored = invoke(sessions_runner, _redis(cli_redis_url, "restore", "chat-1", seeded_store.cp_answer))
    assert restored.exit_code == 0, restored.output
    assert "[6] usage" in invoke(sessions_runner, _redis(cli_redis_url, "show", "chat-1")).stdout


def test_commands_on_redis(sessions_runner: CliRunner, seeded_store: SeededStore, cli_redis_url: str) -> None:
    for session_id in ("chat-1", "chat-2", "code-1"):
        data = invoke(sessions_runner, seeded_store.args("export", session_id)).stdout_bytes
        assert invoke(sessions_runner, _redis(cli_redis_url, "import", "-"), input=data).exit_code == 0

    listed = json.loads(
        invoke(sessions_runner, _redis(cli_redis_url, "list", "--json", "--agent", "assistant")).stdout
    )
    assert {item["id"] for item in listed} == {"chat-1", "chat-2"}
    table = invoke(
        sessions_runner, ["sessions", "--store", "redis", "--redis-url", cli_redis_url, "list"]
    ).stdout
    assert table.splitlines()[0].split() == ["ID", "AGENT", "USER", "MESSAGES", "UPDATED", "TITLE"]
    assert len(table.splitlines()) == 4

    show = invoke(sessions_runner, _redis(cli_redis_url, "show", "chat-1")).stdout
    assert "Let me ask differently." in show and f"--- checkpoint {seeded_store.cp_question}" in show
    cps = json.loads(invoke(sessions_runner, _redis(cli_redis_url, "checkpoints", "chat-1", "--json")).stdout)
    assert [cp["branch"] for cp in cps] == ["current", "abandoned"]

    unknown = invoke(sessions_runner, _redis(cli_redis_url, "show", "nope"))
    assert unknown.exit_code == 1 and unknown.stderr.startswith("error: session 'nope' not found")
    no_cp = invoke(sessions_runner, _redis(cli_redis_url, "restore", "chat-1", "cp_nope"))
    assert no_cp.exit_code == 1 and no_cp.stderr == "error: session 'chat-1' has no checkpoint 'cp_nope'\n"

    assert (
        invoke(sessions_runner, _redis(cli_redis_url, "delete", "--yes", "chat-2")).stdout
        == "deleted session chat-2\n"
    )
    dry = invoke(sessions_runner, _redis(cli_redis_url, "prune", "--older-than", "1h", "--dry-run"))
    assert dry.exit_code == 0 and "nothing would be deleted" in dry.stderr
    zero = invoke(sessions_runner, _redis(cli_redis_url, "prune", "--older-than", "0s", "--agent", "coder"))
    assert zero.exit_code == 2 and "must be longer than 0" in zero.stderr
    from aixgo.session import Manager, RedisBackend

    with Manager(RedisBackend(cli_redis_url)) as mgr:
        age_session(mgr, "code-1", timedelta(days=2))
    everything = invoke(
        sessions_runner, _redis(cli_redis_url, "prune", "--older-than", "1d", "--agent", "coder", "--yes")
    )
    assert everything.stdout == "deleted session code-1\n"
    remaining = json.loads(invoke(sessions_runner, _redis(cli_redis_url, "list", "--json")).stdout)
    assert [item["id"] for item in remaining] == ["chat-1"]


def test_redis_config_file(
    sessions_runner: CliRunner, seeded_store: SeededStore, cli_redis_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "redis.yaml"
    config.write_text("session:\n  store: redis\n  redis:\n    url: ${REDIS_URL}\n")
    data = invoke(sessions_runner, seeded_store.args("export", "chat-2")).stdout_bytes
    env = {"REDIS_URL": cli_redis_url}
    imported = invoke(
        sessions_runner, ["sessions", "--config", str(config), "import", "-"], input=data, env=env
    )
    assert imported.exit_code == 0, imported.output
    assert f"into the store configured in {config}" in imported.stderr
    listed = invoke(sessions_runner, ["sessions", "list", "--json"], env={**env, "AIXGO_CONFIG": str(config)})
    assert [item["id"] for item in json.loads(listed.stdout)] == ["chat-2"]
