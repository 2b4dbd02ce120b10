"""Private folders and whole-file writes for the file store (``0700`` folders, ``0600`` files)."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from aixgo.errors import StoreError
from aixgo.logs import get_logger

log = get_logger("aixgo.session.file")


_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind_of(mode: int) -> str:
    """What a file of this mode is, in words ("a FIFO", "a folder", …)."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def not_regular(path: str | os.PathLike[str], mode: int) -> StoreError:
    """The error for an entry of the store that is not a regular file: the store never opens one."""
    return StoreError(f"file store: {os.fspath(path)} is not a regular file ({kind_of(mode)}); the store never opens it")


def check_regular(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a regular file, False if nothing is there; raises :func:`not_regular`'s error for
    anything else (a link, a folder, a FIFO, a socket, a device), without opening it."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(mode):
        raise not_regular(path, mode)
    return True


def open_regular(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open(path, flags)``, only for a regular file: a link is never followed, and a FIFO or device
    is never waited on (opened non-blocking, then refused with :func:`not_regular`'s error)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):  # a link; a folder opened to write; a socket
            check_regular(path)
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise not_regular(path, mode)
    os.set_blocking(fd, True)
    return fd


def write_all(fd: int, payload: bytes) -> None:
    """Write every byte of ``payload`` (``os.write`` may write fewer, e.g. on a nearly full disk)."""
    written = 0
    while written < len(payload):
        written += os.write(fd, payload[written:])


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
    if os.path.lexists(path):
        return
    make_private_dir(path.parent, durable=durable)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:  # created meanwhile by another process
        return
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    if durable:
        fsync_dir(path.parent)


@contextlib.contextmanager
def written_aside(folder: Path, payload: bytes, *, durable: bool) -> Iterator[Path]:
    """A new temporary file in ``folder`` holding all of ``payload`` (looping on short writes; flushed to
    disk when ``durable``), for the caller to link or rename into place; removed on leaving unless it
    was renamed. A crash leaves it behind, for :func:`clean_leftovers`."""
    tmp = folder / f".import-{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        try:
            write_all(fd, payload)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def check_private_dir(path: Path) -> None:
    """Refuse a folder of the store that is a symbolic link, not a folder, or owned by another user:
    nothing is ever written outside the store."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise StoreError(f"file store: {path} is a symbolic link; the store never follows links")
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"file store: {path} is not a folder")
    if st.st_uid != os.geteuid():
        raise StoreError(f"file store: {path} belongs to another user (uid {st.st_uid}); refusing to use it")


def check_base_dir(path: Path) -> None:
    """Refuse a store folder others can write to (they could plant links or files in it); warn when
    its group can."""
    st = os.stat(path)
    if st.st_mode & stat.S_IWOTH:
        mode = stat.S_IMODE(st.st_mode)
        if mode & stat.S_ISVTX or st.st_uid != os.geteuid():  # a shared folder (/tmp): never tighten it
            raise StoreError(
                f"file store: {path} is a shared folder, writable by others (mode {mode:o}); choose a folder "
                f"of your own inside it as base_dir, such as {path / 'aixgo-sessions'} (created private)"
            )
        raise StoreError(
            f"file store: {path} is writable by others (mode {mode:o}); "
            f"run `chmod 700 {path}` or choose another base_dir"
        )
    if st.st_mode & stat.S_IWGRP:
        log.warning("file_store.group_writable", path=str(path), mode=f"{stat.S_IMODE(st.st_mode):o}")


LEFTOVER_AGE = 600.0
"""Seconds after which a temporary file of an import is a crash's leftover, not one in progress."""


def clean_leftovers(agent_dir: Path) -> None:
    """Remove temporary files that imports killed mid-way left behind (older than :data:`LEFTOVER_AGE`)."""
    cutoff = time.time() - LEFTOVER_AGE
    try:
        items = list(os.scandir(agent_dir))
    except OSError:
        return
    for item in items:
        if item.name.startswith(".") and (".import-" in item.name):
            try:
                if item.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(item.path)
                    log.info("file_store.leftover_removed", path=item.path)
            except OSError:
                continue
