"""Ids typed as unique prefixes, as git and docker take them: every command that takes an id."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from aixgo.session import FileBackend, Manager
from tests.cli.conftest import invoke

IDS = ("3f2c9a1e-0000-4000-8000-000000000001", "3f2c9a1e-0000-4000-8000-000000000002",
       "7b1d0c44-0000-4000-8000-000000000003")


def _store(base: Path) -> str:
    with Manager(FileBackend(base)) as mgr:
        for session_id in IDS:
            session = mgr.create("assistant", session_id)
            session.append_message("user", f"hello from {session_id[:8]}")
        return mgr.get(IDS[2]).checkpoint().id


def test_a_unique_prefix_names_a_session_everywhere(sessions_runner: CliRunner, tmp_path: Path) -> None:
    base = tmp_path / "store"
    checkpoint = _store(base)
    store = ["--base-dir", str(base)]
    shown = invoke(sessions_runner, ["sessions", "show", "7b1d", *store])
    assert shown.exit_code == 0 and IDS[2] in shown.stdout
    assert invoke(sessions_runner, ["sessions", "checkpoints", "7b1d0c", *store]).exit_code == 0
    exported = invoke(sessions_runner, ["sessions", "export", "7b", *store])
    assert exported.exit_code == 0 and IDS[2] in exported.stdout
    restored = invoke(sessions_runner, ["sessions", "restore", "7b1d", checkpoint[:8], *store])
    assert restored.exit_code == 0 and checkpoint in restored.stdout
    deleted = invoke(sessions_runner, ["sessions", "delete", "7b1", "--yes", *store])
    assert deleted.stdout == f"deleted session {IDS[2]}\n"


def test_an_ambiguous_prefix_says_so(sessions_runner: CliRunner, tmp_path: Path) -> None:
    base = tmp_path / "store"
    _store(base)
    result = invoke(sessions_runner, ["sessions", "show", "3f2c", "--base-dir", str(base)])
    assert result.exit_code == 1
    assert "prefix '3f2c' is ambiguous" in result.stderr and IDS[0] in result.stderr and IDS[1] in result.stderr
    missing = invoke(sessions_runner, ["sessions", "show", "ffff", "--base-dir", str(base)])
    assert missing.exit_code == 1 and "not found" in missing.stderr


def test_run_resumes_a_session_named_by_prefix(sessions_runner: CliRunner, tmp_path: Path) -> None:
    base = tmp_path / "store"
    _store(base)
    config = tmp_path / "app.yaml"
    config.write_text(f"session:\n  base_dir: {base}\nllm:\n  provider: scripted\n"
                      "agents:\n  - name: assistant\n    model: demo\n")
    result = invoke(sessions_runner, ["run", str(config), "--session", "7b1d", "-m", "hi", "--json"])
    assert result.exit_code == 0, result.output
    assert IDS[2] in result.stdout
    with Manager(FileBackend(base)) as mgr:
        assert len(mgr.get(IDS[2]).get_messages()) == 3
        assert {info.id for info in mgr.list()} == set(IDS)  # no new session "7b1d"
