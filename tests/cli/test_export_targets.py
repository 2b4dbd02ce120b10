"""``aixgo sessions export ID -o PATH`` replaces only a regular file (atomically); it writes into a FIFO,
a character device or the command's own standard output, follows a link to a regular file (the link
stays), and refuses what it should not write (a block device, a socket, a dangling link) with one line.

The real CLI in a subprocess. Device nodes are the test's own (``mknod`` in a temporary folder), so a
regression never touches the machine's ``/dev``.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from aixgo.session import FileBackend, Manager
from aixgo.session.transfer import export_lines


@pytest.fixture
def store(tmp_path: Path) -> Path:
    base = tmp_path / "store"
    with Manager(FileBackend(base)) as mgr:
        sess = mgr.create("assistant", "chat-1")
        sess.append_message("user", "hello")
        sess.checkpoint()
    return base


def expected(store: Path) -> bytes:
    with Manager(FileBackend(store)) as mgr:
        return "".join(line + "\n" for line in export_lines(mgr.get("chat-1"))).encode()


def export(store: Path, output: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "aixgo", "sessions", "--base-dir", str(store), "export", "chat-1", "-o", output]
    return subprocess.run(command, capture_output="stdout" not in kwargs, timeout=60, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def mknod(path: Path, kind: int, major: int, minor: int) -> Path:
    try:
        os.mknod(path, kind | 0o666, os.makedev(major, minor))
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")
    return path


def test_a_fifo_is_written_into_and_its_reader_gets_the_export(store: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the reader is there before the export starts
    try:
        done = export(store, str(fifo))
        received = b""
        while chunk := os.read(reader, 1 << 16):  # the export is far below a pipe's buffer
            received += chunk
    finally:
        os.close(reader)
    assert done.returncode == 0, done.stderr
    assert received == expected(store)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still the FIFO, not a file renamed over it
    assert sorted(os.listdir(tmp_path)) == ["pipe", "store"]  # no temporary file left behind


def test_a_character_device_is_written_into_not_replaced(store: Path, tmp_path: Path) -> None:
    null = mknod(tmp_path / "null", stat.S_IFCHR, 1, 3)  # the same device as /dev/null
    done = export(store, str(null))
    assert done.returncode == 0, done.stderr
    assert stat.S_ISCHR(null.lstat().st_mode) and null.lstat().st_rdev == os.makedev(1, 3)
    assert sorted(os.listdir(tmp_path)) == ["null", "store"]


@pytest.mark.parametrize("name", ["/dev/fd/1", "/proc/self/fd/1"])
def test_the_commands_own_stdout_is_written_into(store: Path, tmp_path: Path, name: str) -> None:
    if not Path(name).parent.exists():
        pytest.skip(f"{Path(name).parent} does not exist here")
    redirected = tmp_path / "redirected.jsonl"
    redirected.write_bytes(b"")
    with redirected.open("ab") as stdout:  # `aixgo … -o /dev/stdout >> redirected.jsonl`
        stdout.write(b"before\n")
        stdout.flush()
        done = export(store, name, stdout=stdout, stderr=subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    assert redirected.read_bytes() == b"before\n" + expected(store)  # appended: nothing before it lost


def test_a_link_to_a_regular_file_stays_a_link_and_its_target_is_replaced(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "backups" / "chat.jsonl"
    target.parent.mkdir()
    target.write_bytes(b"old\n")
    target.chmod(0o640)
    link = tmp_path / "latest.jsonl"
    link.symlink_to(target)
    done = export(store, str(link))
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and link.resolve() == target
    assert target.read_bytes() == expected(store)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(target.parent) == ["chat.jsonl"]


def _socket(path: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()
    return path


@pytest.mark.parametrize(("make", "said"), [
    (lambda p: mknod(p, stat.S_IFBLK, 7, 250), "is a block device"),
    (_socket, "is a socket"),
    (lambda p: (p.symlink_to(p.parent / "missing.jsonl"), p)[1], "is a link to a missing file"),
], ids=["block-device", "socket", "dangling-link"])
def test_what_must_not_be_written_is_refused_in_one_line(
    store: Path, tmp_path: Path, make: object, said: str
) -> None:
    path = make(tmp_path / "out")  # type: ignore[operator]
    before = path.lstat()
    done = export(store, str(path))
    assert done.returncode == 1, done
    message = done.stderr.decode()
    assert message.count("\n") == 1 and message.startswith(f"error: cannot write {path}: ") and said in message
    after = path.lstat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)  # untouched
    assert not (tmp_path / "missing.jsonl").exists()
