"""``aixgo sessions import`` of an id the store already has: refused with a way out, ``--new-id``
(a copy under a new id) and ``--replace`` (after asking; the stored session comes back if the
import fails)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aixgo.cli import common as cli_common
from aixgo.cli import transfer as cli_transfer
from aixgo.session import EntryType, FileBackend, Manager
from tests.cli.conftest import invoke


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    base = tmp_path / "store"
    with Manager(FileBackend(base)) as mgr:
        session = mgr.create("assistant", "s-1")
        session.append_message("user", "exported version")
        session.checkpoint()
    dump = tmp_path / "s-1.jsonl"
    assert invoke(CliRunner(), ["sessions", "export", "s-1", "-o", str(dump), "--base-dir", str(base)]).exit_code == 0
    with Manager(FileBackend(base)) as mgr:
        mgr.get("s-1").append_message("assistant", "stored later")
    return base, dump


def _messages(base: Path, session_id: str) -> list[str]:
    with Manager(FileBackend(base)) as mgr:
        return [e.data["content"] for e in mgr.get(session_id).get_entries() if e.type is EntryType.MESSAGE]


def test_an_existing_id_is_refused_with_the_way_out(sessions_runner: CliRunner, tmp_path: Path) -> None:
    base, dump = _setup(tmp_path)
    result = invoke(sessions_runner, ["sessions", "import", str(dump), "--base-dir", str(base)])
    assert result.exit_code == 1
    assert "already exists" in result.stderr and "--new-id" in result.stderr and "--replace" in result.stderr
    assert _messages(base, "s-1") == ["exported version", "stored later"]


def test_new_id_imports_a_copy(sessions_runner: CliRunner, tmp_path: Path) -> None:
    base, dump = _setup(tmp_path)
    result = invoke(sessions_runner, ["sessions", "import", str(dump), "--new-id", "--base-dir", str(base)])
    assert result.exit_code == 0, result.output
    copy = result.stdout.strip()
    assert copy != "s-1" and len(copy) == 36
    assert _messages(base, copy) == ["exported version"]
    assert _messages(base, "s-1") == ["exported version", "stored later"]
    with Manager(FileBackend(base)) as mgr:  # its checkpoint restores (checksums hold under the new id)
        copied = mgr.get(copy)
        (checkpoint,) = copied.checkpoints()
        assert checkpoint.session_id == copy
        copied.restore(checkpoint.id)


def test_replace_asks_and_replaces(
    sessions_runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, dump = _setup(tmp_path)
    args = ["sessions", "import", str(dump), "--replace", "--base-dir", str(base)]
    refused = invoke(sessions_runner, args)
    assert refused.exit_code == 2 and "pass --yes" in refused.stderr
    monkeypatch.setattr(cli_common, "stdin_is_interactive", lambda: True)
    declined = invoke(sessions_runner, args, input="n\n")
    assert declined.exit_code == 1 and "nothing replaced" in declined.stderr
    assert _messages(base, "s-1") == ["exported version", "stored later"]
    accepted = invoke(sessions_runner, args, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "Replace session s-1 (agent assistant, 2 messages)" in accepted.stderr
    assert _messages(base, "s-1") == ["exported version"]


def test_a_failed_replace_puts_the_stored_session_back(
    sessions_runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, dump = _setup(tmp_path)
    real = cli_transfer.import_lines
    calls = []

    def failing_once(*args: object, **kwargs: object) -> object:
        calls.append(args)
        if len(calls) == 2:  # the replacing import (the first found the id taken)
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cli_transfer, "import_lines", failing_once)
    result = invoke(sessions_runner, ["sessions", "import", str(dump), "--replace", "--yes", "--base-dir", str(base)])
    assert result.exit_code == 1 and result.stderr == "error: No space left on device\n"  # one line, no traceback
    assert _messages(base, "s-1") == ["exported version", "stored later"]


def test_new_id_and_replace_together_is_a_usage_error(sessions_runner: CliRunner, tmp_path: Path) -> None:
    base, dump = _setup(tmp_path)
    result = invoke(sessions_runner, ["sessions", "import", str(dump), "--new-id", "--replace", "--base-dir", str(base)])
    assert result.exit_code == 2
