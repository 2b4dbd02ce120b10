"""``aixgo sessions import --replace --yes`` killed at any moment leaves the session whole: the old one
or the new one, never neither (issue 21, item 2: it deleted the old session first and kept the only
copy in memory; 21 of 67 kills lost the session)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aixgo.session import FileBackend, Manager
from aixgo.session.transfer import export_lines, import_lines

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KILLS = 52


def _versions(base: Path, tmp_path: Path) -> tuple[list[str], list[str], Path]:
    """The stored (old) session's export, the new one's, and the new one as a file to import."""
    with Manager(FileBackend(base, fsync="never")) as mgr:
        s = mgr.create("assistant", "victim")
        s.append_message("user", "old version")
        old = list(export_lines(s))
        for i in range(3000):  # big enough that writing it takes a while
            s.append_message("user", f"new version {i} " + "x" * 200)
        s.checkpoint()
        new = list(export_lines(s))
        assert mgr.delete("victim")
    dump = tmp_path / "new.jsonl"
    dump.write_text("".join(line + "\n" for line in new))
    return old, new, dump


def _restore_old(base: Path, old: list[str]) -> None:
    with Manager(FileBackend(base, fsync="never")) as mgr:
        mgr.delete("victim")
        import_lines(mgr, old, "old")


def _kill_once_writing(child: subprocess.Popen[bytes], folder: Path) -> bool:
    """Kill ``child`` as soon as its new session file is being written (a temporary file beside the old
    one); True if it was killed then, False if it finished first."""
    deadline = time.monotonic() + 60
    while child.poll() is None and time.monotonic() < deadline:
        if any(folder.glob(".import-*.tmp")):
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
            return True
        time.sleep(0.001)
    child.wait(timeout=30)
    return False


def test_import_replace_killed_anywhere_leaves_the_old_or_the_new_session(tmp_path: Path) -> None:
    base = tmp_path / "store"
    old, new, dump = _versions(base, tmp_path)
    command = [sys.executable, "-m", "aixgo", "sessions", "--base-dir", str(base),
               "import", str(dump), "--replace", "--yes"]  # fmt: skip
    _restore_old(base, old)
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, timeout=120, cwd=ROOT)
    whole_run = time.monotonic() - started
    rng = random.Random(21)
    outcomes = {"old": 0, "new": 0}
    while_writing = 0
    for kill in range(KILLS):
        _restore_old(base, old)
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        if kill % 2 == 0:  # half the kills land while the new session is being written
            while_writing += _kill_once_writing(child, base / "assistant")
        else:  # the others anywhere in the run (start-up, reading the file, the swap, after)
            try:
                child.wait(timeout=rng.uniform(0.2, 1.1) * whole_run)
            except subprocess.TimeoutExpired:
                os.kill(child.pid, signal.SIGKILL)
                child.wait(timeout=30)
        with Manager(FileBackend(base, fsync="never")) as mgr:
            lines = list(export_lines(mgr.get("victim")))  # found and whole, whatever the kill left
        assert lines in (old, new), f"kill {kill}: the session is neither the old nor the new one"
        outcomes["old" if lines == old else "new"] += 1
    assert while_writing > KILLS // 4, while_writing  # the kills did land inside the replace
    print(f"{KILLS} kills of import --replace ({while_writing} while writing the new session): {outcomes}")
