"""Writing a command's output to ``-o PATH`` without harming what is already there.

What ``PATH`` is decides how (documented in docs/cli.md, ``export``):

* nothing, or a regular file: written aside and renamed into place (atomic; a new file gets mode 0600,
  a replaced one keeps its mode);
* a link to a regular file: that file is replaced the same way, and the link stays;
* the command's own standard output (``/dev/stdout``, ``/dev/fd/1``): written to it, as ``-o -``;
* a FIFO or a character device (``/dev/null``, a terminal): written into, never renamed over (a FIFO
  waits for its reader, as the shell's ``>`` does);
* a block device, a socket, a folder or a link to nothing: refused, nothing written.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from aixgo.cli.common import CliError

_REFUSED = {
    stat.S_IFBLK: "is a block device",
    stat.S_IFSOCK: "is a socket",
    stat.S_IFDIR: "is a folder",
}


def write_lines(path: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` (each plus a newline, UTF-8) to ``path`` as the module docstring says; the number
    of lines written. Raises :class:`~aixgo.cli.common.CliError` for a target it refuses and ``OSError``
    when writing fails."""
    path = path.expanduser()
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return _replace(path, lines, mode=None)
    if stat.S_ISLNK(info.st_mode):
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise _refused(path, "is a link to a missing file; give a path to a file or a new name") from None
        if stat.S_ISREG(info.st_mode) and not _is_stdout(info):
            return _replace(Path(os.path.realpath(path)), lines, mode=stat.S_IMODE(info.st_mode))
    if _is_stdout(info):
        sys.stdout.flush()
        return _write(sys.stdout.buffer, lines)
    if stat.S_ISREG(info.st_mode):
        return _replace(path, lines, mode=stat.S_IMODE(info.st_mode))
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode):
        with open(os.open(path, os.O_WRONLY | os.O_NOCTTY), "wb") as stream:
            return _write(stream, lines)
    raise _refused(path, _REFUSED.get(stat.S_IFMT(info.st_mode), "is not a file"))


def _refused(path: Path, why: str) -> CliError:
    return CliError(f"cannot write {path}: {why} (aixgo replaces regular files and writes into FIFOs and "
                    "character devices)")


def _is_stdout(info: os.stat_result) -> bool:
    try:
        out = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no stdout, or a test runner's replacement
        return False
    return (out.st_dev, out.st_ino) == (info.st_dev, info.st_ino)


def _write(stream: BinaryIO, lines: Iterable[str]) -> int:
    count = 0
    for line in lines:
        stream.write(line.encode("utf-8") + b"\n")
        count += 1
    stream.flush()
    return count


def _replace(path: Path, lines: Iterable[str], mode: int | None) -> int:
    """Write beside ``path`` and rename into place (fsynced); ``mode`` for the result (None: 0600)."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            count = _write(f, lines)
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


__all__ = ["write_lines"]
