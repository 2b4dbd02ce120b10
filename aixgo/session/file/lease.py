"""The file store's turn lease: ``flock(LOCK_EX)`` on ``<session-id>.lease``, tried without waiting.

The OS releases the lock if the process dies, so the lease needs no expiry; ``ttl`` is accepted for
parity with the Redis store. Waiting for a busy lease is the caller's (:mod:`aixgo.session.leases`).
"""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path

from aixgo.errors import SessionBusyError


class FileLease:
    """A held lease; release it (or leave the ``with`` block) when the turn ends."""

    def __init__(self, fd: int, path: Path, session_id: str, ttl: float) -> None:
        self.token = secrets.token_hex(16)
        self.ttl = ttl
        self._path = path
        self._session_id = session_id
        self._fd: int | None = fd

    @classmethod
    def try_take(cls, path: Path, session_id: str, ttl: float) -> FileLease | None:
        """The lease if no one holds it, else None (never blocks).

        A taker that locked a lease file just removed (with its session) sees that the path names
        another file, or none, and tries again."""
        for _ in range(100):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _same_file(fd, path):
                    return cls(fd, path, session_id, ttl)
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # we locked a file its holder removed meanwhile: take the new one
        return None

    def extend(self, ttl: float | None = None) -> None:
        """Nothing to extend (the lock has no expiry); raises if the lease was released."""
        if self._fd is None:
            raise SessionBusyError(
                f"the lease on session {self._session_id!r} was released", session_id=self._session_id
            )

    def release(self) -> None:
        """Unlock and close (twice is harmless). The lease file stays, for the next turn; it is removed
        with its session."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> FileLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (opened.st_dev, opened.st_ino)
