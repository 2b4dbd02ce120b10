"""Bounded ``flock`` waits for the file store's writers.

A writer holds a session file's exclusive lock only while it appends one record, but a writer that
is stopped (``SIGSTOP``, a debugger, a frozen VM) would hold it forever: waits here poll with a
non-blocking ``flock`` and give up after ``timeout`` seconds with
:class:`~aixgo.errors.SessionBusyError`, naming the file. Readers take no lock at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from aixgo.errors import SessionBusyError

DEFAULT_LOCK_TIMEOUT = 10.0
_FIRST_PAUSE = 0.0005
_MAX_PAUSE = 0.02


def lock_exclusive(fd: int, timeout: float, path: Path, session_id: str | None = None) -> None:
    """``flock(fd, LOCK_EX)``, waiting at most ``timeout`` seconds."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    deadline = time.monotonic() + timeout
    pause = _FIRST_PAUSE
    while True:
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise SessionBusyError(
                    f"{path} is locked by another writer that has not let go for {timeout:g}s "
                    "(a stopped or hung process?); nothing was written",
                    session_id=session_id,
                ) from None
            pause = min(pause * 2, _MAX_PAUSE)


def writer_at_work(fd: int) -> bool:
    """Whether another writer holds the file's lock right now (so bytes after its last newline may be a
    record being written). Takes and drops a shared lock, without waiting."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


@contextlib.contextmanager
def store_lock(base_dir: Path, timeout: float) -> Iterator[None]:
    """The store-wide lock that makes creating a session id atomic across agents and processes."""
    fd = os.open(base_dir / ".create.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        lock_exclusive(fd, timeout, base_dir / ".create.lock")
        yield
    finally:
        os.close(fd)  # closing releases the lock
