"""One stray entry in an agent folder must not break the file store for everyone (issue 21, item 8): a
symbolic link, a folder, a FIFO, a socket named ``*.jsonl``. Each is listed by name, as a damaged
session is, and never opened: a FIFO made ``list`` hang forever. Every test runs the store in a
child process with a timeout, so a hang fails instead of blocking the suite."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aixgo.session import FileBackend, Manager

ROOT = Path(__file__).resolve().parents[2]


def _aixgo(base: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aixgo", "sessions", "--base-dir", str(base), *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip


@pytest.fixture
def strays(tmp_path: Path) -> Path:
    """A store with one whole session and, beside it, a link, a folder, a FIFO and a socket named like
    session files."""
    base = tmp_path / "store"
    with Manager(FileBackend(base)) as mgr:
        mgr.create("assistant", "whole").append_message("user", "hi")
    folder = base / "assistant"
    (folder / "link.jsonl").symlink_to(folder / "whole.jsonl")
    (folder / "dir.jsonl").mkdir()
    os.mkfifo(folder / "fifo.jsonl")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock.jsonl"))
    sock.close()
    return base


def test_list_names_every_stray_entry_and_blocks_on_none(strays: Path) -> None:
    done = _aixgo(strays, "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = {item["id"]: item for item in json.loads(done.stdout)}
    assert listed["whole"]["message_count"] == 1 and listed["whole"].get("damage") is None
    kinds = {"link": "symbolic link", "dir": "folder", "fifo": "FIFO", "sock": "socket"}
    for name, kind in kinds.items():
        assert kind in listed[name]["damage"], listed[name]
        assert "not a regular file" in listed[name]["damage"]
        assert f"warning: session {name} cannot be read" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_table_marks_them_damaged(strays: Path) -> None:
    done = _aixgo(strays, "list")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert "DAMAGED" in rows["fifo"] and "DAMAGED" in rows["dir"] and "DAMAGED" not in rows["whole"]


@pytest.mark.parametrize("name", ["link", "dir", "fifo", "sock"])
def test_reading_a_stray_entry_is_one_clear_error(strays: Path, name: str) -> None:
    for command in (["show", name], ["export", name], ["repair", name], ["verify", name]):
        done = _aixgo(strays, *command)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "not a regular file" in done.stdout + done.stderr, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
    assert _aixgo(strays, "show", "whole").returncode == 0


def test_creating_an_id_a_stray_entry_holds_is_refused(strays: Path) -> None:
    code = (
        "import sys\n"
        "from aixgo.errors import AixgoError\n"
        "from aixgo.session import FileBackend, Manager\n"
        "mgr = Manager(FileBackend(sys.argv[1]))\n"
        "for name in ('fifo', 'dir', 'sock', 'link'):\n"
        "    try:\n"
        "        mgr.create('assistant', name)\n"
        "    except AixgoError as exc:\n"
        "        print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(strays)], capture_output=True, text=True, timeout=60,
                          check=False, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 4, done.stdout
    assert all("not a regular file" in line or "already exists" in line for line in done.stdout.splitlines())
    assert (strays / "assistant" / "dir.jsonl").is_dir() and (strays / "assistant" / "fifo.jsonl").is_fifo()
