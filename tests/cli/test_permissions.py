"""A store the user may not read: every ``aixgo sessions`` command says so in one line and exits 1,
never with a traceback. Run as a user would: the real CLI in a subprocess, as another user.

The tests run as root here (root reads anything), so the CLI runs as ``nobody`` through
``setpriv``; as an ordinary user the folders are simply made unreadable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import aixgo
from aixgo.session import FileBackend, Manager

NOBODY = 65534


def _command(args: list[str]) -> list[str]:
    command = [sys.executable, "-m", "aixgo", *args]
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): cannot run the CLI as an unprivileged user")
    checkout = Path(aixgo.__file__).resolve().parent
    for folder in (checkout, *checkout.parents):  # e.g. a clone made in a `mktemp -d` folder (0700)
        if folder.stat().st_mode & 0o005 != 0o005:
            pytest.skip(f"{folder} is not reachable by other users: the unprivileged CLI cannot import aixgo from it")
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]


def run_unprivileged(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": "/nonexistent"}
    return subprocess.run(_command(args), capture_output=True, text=True, timeout=60, check=False, cwd="/", env=env)


@pytest.fixture
def world() -> Iterator[Path]:
    """A folder an unprivileged user can reach (pytest's own tmp_path is in a 0700 folder)."""
    folder = Path(tempfile.mkdtemp(prefix="aixgo-permissions-"))
    try:
        os.chmod(folder, 0o755)
        for parent in folder.parents:
            if parent.stat().st_mode & 0o005 != 0o005:
                pytest.skip(f"{parent} is not reachable by other users")
        yield folder
    finally:
        for path in (folder, *folder.rglob("*")):
            if path.is_dir() and not path.is_symlink():
                os.chmod(path, 0o700)
        shutil.rmtree(folder)


def _store(base: Path) -> Path:
    with Manager(FileBackend(base)) as mgr:
        sess = mgr.create("assistant", "chat-1")
        sess.append_message("user", "hello")
        sess.checkpoint()
    return base


def _unreadable_parent(world: Path) -> Path:
    """The store sits in a folder the user cannot enter (so it cannot even tell whether it exists)."""
    base = _store(world / "locked" / "store")
    os.chmod(world / "locked", 0o700)
    return base


def _unreadable_base(world: Path) -> Path:
    """The store's own folder is another user's, mode 0700 (what aixgo creates)."""
    return _store(world / "store")


def _unreadable_agent(world: Path) -> Path:
    """The store's folder is open, an agent folder is not."""
    base = _store(world / "store")
    os.chmod(base, 0o755)
    return base


def _unreadable_file(world: Path) -> Path:
    """Folders open, the session file not."""
    base = _store(world / "store")
    os.chmod(base, 0o755)
    os.chmod(base / "assistant", 0o755)
    return base


LAYOUTS: dict[str, Callable[[Path], Path]] = {
    "parent": _unreadable_parent,
    "store": _unreadable_base,
    "agent": _unreadable_agent,
    "file": _unreadable_file,
}
COMMANDS = [
    ["list"],
    ["show", "chat-1"],
    ["export", "chat-1"],
    ["checkpoints", "chat-1"],
    ["search", "hello"],
    ["prune", "--older-than", "1d", "--dry-run"],
    ["delete", "chat-1", "--yes"],
    ["repair", "chat-1"],
    ["fork", "chat-1"],
    ["restore", "chat-1", "cp_nope"],
]


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_store_the_user_cannot_read_is_one_clear_line(world: Path, layout: str, command: list[str]) -> None:
    base = LAYOUTS[layout](world)
    if os.geteuid() != 0:  # an ordinary user: take the permission away from themselves
        for path in (base.parent, base, base / "assistant", base / "assistant" / "chat-1.jsonl"):
            if path.exists():
                os.chmod(path, 0o300 if path.is_dir() else 0o200)
    done = run_unprivileged(["sessions", "--base-dir", str(base), *command])
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Permission denied" in lines[0] and str(world) in lines[0], lines[0]
    assert "chat-1" not in done.stdout  # nothing pretends to have read the store
