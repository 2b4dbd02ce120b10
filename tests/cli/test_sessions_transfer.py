"""``aixgo sessions export`` and ``import``: JSONL to stdout or a file, from a file or stdin, errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from aixgo.session import FileBackend, Manager
from aixgo.session.transfer import export_lines
from tests.cli.conftest import SeededStore, invoke


def _expected(store: SeededStore, session_id: str) -> bytes:
    with store.manager() as mgr:
        return "".join(line + "\n" for line in export_lines(mgr.get(session_id))).encode()


def test_export_to_stdout(sessions_runner: CliRunner, seeded_store: SeededStore) -> None:
    result = invoke(sessions_runner, seeded_store.args("export", "chat-1"))
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == _expected(seeded_store, "chat-1")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["k"] for r in records] == ["s"] + ["e"] * 7 + ["c", "c", "h", "end"]  # abandoned branch included
    assert result.stderr == ""


def test_export_to_file(sessions_runner: CliRunner, seeded_store: SeededStore, tmp_path: Path) -> None:
    target = tmp_path / "out" / "chat.jsonl"
    target.parent.mkdir()
    result = invoke(sessions_runner, seeded_store.args("export", "chat-1", "-o", str(target)))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == f"exported session chat-1 (12 lines) to {target}\n"
    assert target.read_bytes() == _expected(seeded_store, "chat-1")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(target.parent) == ["chat.jsonl"]  # no temporary file left behind
    target.chmod(0o640)  # overwriting keeps the mode the user chose
    invoke(sessions_runner, seeded_store.args("export", "chat-2", "--output", str(target)))
    assert target.read_bytes() == _expected(seeded_store, "chat-2")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_export_errors(sessions_runner: CliRunner, seeded_store: SeededStore, tmp_path: Path) -> None:
    unwritable = invoke(
        sessions_runner, seeded_store.args("export", "chat-1", "-o", str(tmp_path / "no" / "x.jsonl"))
    )
    assert unwritable.exit_code == 1
    assert unwritable.stderr.startswith(f"error: cannot write {tmp_path / 'no' / 'x.jsonl'}: ")
    unknown = invoke(sessions_runner, seeded_store.args("export", "nope"))
    assert unknown.exit_code == 1 and "error: session 'nope' not found" in unknown.stderr
    assert invoke(sessions_runner, seeded_store.args("export", "a/b")).exit_code == 2


def test_import_file_round_trips(
    sessions_runner: CliRunner, seeded_store: SeededStore, tmp_path: Path
) -> None:
    dump = tmp_path / "chat.jsonl"
    dump.write_bytes(_expected(seeded_store, "chat-1"))
    other = tmp_path / "other-store"
    result = invoke(sessions_runner, ["sessions", "import", str(dump), "--base-dir", str(other)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "chat-1\n"
    assert result.stderr == (
        f"imported session chat-1 (agent assistant, 3 messages, 2 checkpoints) into file store at {other}\n"
    )
    again = invoke(sessions_runner, ["sessions", "export", "chat-1", "--base-dir", str(other)])
    assert again.stdout_bytes == dump.read_bytes()
    restored = invoke(
        sessions_runner, ["sessions", "restore", "chat-1", seeded_store.cp_answer, "--base-dir", str(other)]
    )
    assert restored.exit_code == 0, restored.output  # checksums still verify after the import


def test_import_from_stdin(sessions_runner: CliRunner, seeded_store: SeededStore, tmp_path: Path) -> None:
    other = tmp_path / "other-store"
    data = _expected(seeded_store, "chat-2")
    result = invoke(sessions_runner, ["sessions", "--base-dir", str(other), "import", "-"], input=data)
    assert result.exit_code == 0, result.output
    assert result.stdout == "chat-2\n"
    assert (
        invoke(sessions_runner, ["sessions", "export", "chat-2", "--base-dir", str(other)]).stdout_bytes
        == data
    )


def test_import_existing_session_fails(
    sessions_runner: CliRunner, seeded_store: SeededStore, tmp_path: Path
) -> None:
    dump = tmp_path / "chat.jsonl"
    dump.write_bytes(_expected(seeded_store, "chat-1"))
    result = invoke(sessions_runner, seeded_store.args("import", str(dump)))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: session 'chat-1' already exists; import it as a copy with --new-id, or replace the stored one "
        "with --replace\n"
    )
    assert result.stdout == ""


def test_import_corrupted_input(
    sessions_runner: CliRunner, seeded_store: SeededStore, tmp_path: Path
) -> None:
    good = _expected(seeded_store, "chat-1").splitlines(keepends=True)
    target = ["sessions", "--base-dir", str(tmp_path / "fresh")]
    cases = {
        "garbage.jsonl": (b"".join([good[0], b"{not json\n", *good[1:]]), ":2: not a valid session export"),
        "no-header.jsonl": (b"".join(good[1:]), ":1: not a valid session export: the first record must be"),
        "empty.jsonl": (b"", ": not a valid session export: empty: no session header"),
        "latin1.jsonl": (
            good[0] + '{"k":"e","data":"Zürich"}\n'.encode("latin-1"),
            ":2: not a valid session export: not UTF-8",
        ),
        "future.jsonl": (good[0].replace(b'"v":1', b'"v":99'), ":1: export format version 99 is newer"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = invoke(sessions_runner, [*target, "import", str(path)])
        assert result.exit_code == 1, (name, result.output)
        assert result.stderr.startswith(f"error: {path}{message}"), (name, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    stdin = invoke(sessions_runner, [*target, "import", "-"], input=b"[1, 2]\n")
    assert stdin.exit_code == 1 and stdin.stderr.startswith("error: <stdin>:1: not a valid session export")
    listed = invoke(sessions_runner, [*target, "list", "--json"])
    assert json.loads(listed.stdout) == []  # nothing half-imported


def test_import_missing_file_is_a_usage_error(sessions_runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(
        sessions_runner, ["sessions", "import", str(tmp_path / "missing.jsonl"), "--base-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path, fsync="never")) as mgr:
        sess = mgr.create("assistant", "big")
        for i in range(2000):
            sess.append_message("user", f"message {i} " + "x" * 200)
    for command in ("export", "show"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "aixgo", "sessions", command, "big", "--base-dir", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        assert len(proc.stdout.read(100)) == 100
        proc.stdout.close()  # like `| head -c 100`
        stderr = proc.stderr.read()
        assert proc.wait(timeout=60) == 141, stderr
        assert stderr == b""
