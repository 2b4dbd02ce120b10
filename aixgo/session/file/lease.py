"""The file store's turn lease: ``flock(LOCK_EX)`` on ``<session-id>.lease``, tried without waiting.

The OS releases the lock if the process dies, so the lease needs no expiry; ``ttl`` is accepted for
parity with the Redis store. Waiting for a busy lease is the caller's (:mod:`aixgo.session.leases`).

Fencing: the holder writes its token into the lease file once it has the lock, and blanks it (the
same number of zero bytes, written over it) before it unlocks. A fenced write (:func:`holds`) reads the file under the session file's write lock
and goes ahead only if it holds the writer's token. So what the file store guarantees is exactly
this: a lease is held from the moment it is taken until it is released or its process dies (it never
expires while the process lives, however long the process stalls); a write fenced by a lease that
was released — a task of a finished turn still running, a token kept after ``release()`` — or by any
token that is not the current holder's is refused, having written nothing; a process that dies
holding a lease writes nothing more.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path

from aixgo.session.leases import lease_lost

_TOKEN_BYTES = 16
_BLANK = bytes(2 * _TOKEN_BYTES)
"""What a released lease leaves in its file: as long as a token (hex), so it covers the last one."""


class FileLease:
    """A held lease; release it (or leave the ``with`` block) when the turn ends."""

    def __init__(self, fd: int, path: Path, session_id: str, ttl: float) -> None:
        self.token = secrets.token_hex(_TOKEN_BYTES)
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
                    lease = cls(fd, path, session_id, ttl)
                    # written over in place, never truncated: ext4 flushes a file truncated to zero
                    # (its replace-via-truncate heuristic), which cost a turn ~3 ms of disk I/O
                    os.pwrite(fd, lease.token.encode(), 0)
                    return lease
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # we locked a file its holder removed meanwhile: take the new one
        return None

    def extend(self, ttl: float | None = None) -> None:
        """Nothing to extend (the lock has no expiry); raises :class:`LeaseLostError` if it was released."""
        if self._fd is None:
            raise lease_lost(self._session_id)

    def release(self) -> None:
        """Blank the lease file (so its token fences nothing any more), unlock and close (twice is
        harmless). The lease file stays, for the next turn; it is removed with its session."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.pwrite(fd, _BLANK, 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def __enter__(self) -> FileLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holds(path: Path, token: str) -> bool:
    """Whether the lease whose file is ``path`` is held under ``token`` right now (see the module
    docstring). The caller holds the session file's write lock."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        return os.pread(fd, 256, 0) == token.encode()
    finally:
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (opened.st_dev, opened.st_ino)
