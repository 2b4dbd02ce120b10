"""Values stored before the nesting bound (``MAX_JSON_DEPTH``) still read back through every command;
new ones are refused with one line. The real CLI in a subprocess, on a file store written as an older
aixgo (which had no bound) could write it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aixgo.session import EntryType, FileBackend, Manager
from tests.session.contract_transfer import deep, depth_of, write_as_an_older_aixgo

DEPTH = 980  # about the deepest Python's JSON could write from a shallow stack


@pytest.fixture
def legacy_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = tmp_path / "store"

    def write() -> None:
        with Manager(FileBackend(base)) as mgr:
            sess = mgr.create("assistant", "deep", metadata=deep(DEPTH))
            sess.append_message("user", "hello")
            sess.append_entry(EntryType.METADATA, deep(DEPTH))
            sess.checkpoint(metadata=deep(DEPTH))
            sess.append_message("assistant", "hi")

    write_as_an_older_aixgo(monkeypatch, write)
    return base


def aixgo(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "aixgo", *args], capture_output=True, timeout=120, check=False,
                          input=stdin)


@pytest.mark.parametrize("command", [
    ["list"], ["show", "deep"], ["show", "deep", "--json"], ["show", "deep", "--all"], ["checkpoints", "deep"],
    ["export", "deep"], ["repair", "deep"], ["search", "hello"],
], ids="-".join)
def test_every_command_reads_a_value_stored_deeper_than_the_bound(legacy_store: Path, command: list[str]) -> None:
    done = aixgo("sessions", "--base-dir", str(legacy_store), *command)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr.decode()[-2000:]
    if command == ["show", "deep", "--json"]:
        shown = done.stdout.decode()
        assert '{"x":' * 5 in shown.replace(" ", "").replace("\n", "")
        parsed = subprocess.run([sys.executable, "-c", "import json,sys,threading\n"
                                 "t=threading.Thread(target=lambda: json.load(sys.stdin)); t.start(); t.join()"],
                                input=done.stdout, capture_output=True, check=False, timeout=60)
        assert parsed.returncode == 0 and not parsed.stderr  # still valid JSON
    if command[0] == "export":
        kinds = [json.loads(line).get("k") if len(line) < 200 else line[:8] for line in done.stdout.splitlines()]
        assert len(kinds) == 7 and kinds[-1] == "end"


def test_an_export_of_such_a_value_is_refused_on_import_in_one_line(legacy_store: Path, tmp_path: Path) -> None:
    exported = aixgo("sessions", "--base-dir", str(legacy_store), "export", "deep").stdout
    done = aixgo("sessions", "--base-dir", str(tmp_path / "other"), "import", "-", stdin=exported)
    message = done.stderr.decode()
    assert done.returncode == 1 and message.count("\n") == 1, message
    assert message.startswith("error: <stdin>:1: ") and "nested deeper than 100 levels" in message


def test_a_new_value_too_deep_is_refused(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path / "store")) as mgr:
        sess = mgr.create("assistant", "s")
        with pytest.raises(ValueError, match="nested deeper than 100 levels"):
            sess.checkpoint(metadata=deep(DEPTH))
        assert sess.checkpoints() == [] and depth_of(deep(3)) == 3
