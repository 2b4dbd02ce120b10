"""Private folders and whole-file writes for the file store (``0700`` folders, ``0600`` files)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a new or removed file's name) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dir(path: Path, *, durable: bool) -> None:
    """Create ``path`` and any missing parents, each ``0700`` (sessions are private); with ``durable``
    each new folder's parent is fsynced."""
    if path.is_dir():
        return
    make_private_dir(path.parent, durable=durable)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:  # created meanwhile by another process
        return
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    if durable:
        fsync_dir(path.parent)


def write_exclusive(path: Path, payload: bytes, *, durable: bool) -> None:
    """Create ``path`` holding ``payload``, all or nothing: written to a temporary file in the same
    folder (looping on short writes), then linked into place, which fails with ``FileExistsError``
    (leaving nothing) if ``path`` exists."""
    tmp = path.parent / f".import-{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        try:
            written = 0
            while written < len(payload):
                written += os.write(fd, payload[written:])
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)  # never overwrites
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        fsync_dir(path.parent)
