"""Repairing a damaged session file: keep the valid prefix, move the rest aside, delete nothing.

``aixgo sessions repair ID`` (a dry run unless ``--apply``) calls :func:`repair_file`: it replays the
file line by line through the session core until the first record that is damaged (fails its
checksum, does not parse, or breaks a session rule). With ``apply``, the bytes from that line on are
written, unchanged, to ``<session-id>.jsonl.damaged-<UTC time>`` beside the file, and the session
file is replaced by its valid prefix (a new file renamed into place, so other processes reopen it).
An unterminated last line (a torn write) counts as damage here too: it is moved aside, not dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aixgo.errors import SessionCorruptedError
from aixgo.session.file.dirs import fsync_dir, open_regular, write_all
from aixgo.session.file.locks import lock_exclusive
from aixgo.session.file.replay import Replay


@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair_file` found (and did). ``damaged_line`` is None when the file is whole."""

    path: Path
    kept_lines: int
    kept_bytes: int
    damaged_line: int | None
    damaged_bytes: int
    problem: str | None
    moved_to: Path | None = None


def repair_file(path: Path, session_id: str, *, apply: bool, lock_timeout: float) -> RepairReport:
    """Check ``path`` and, with ``apply``, move everything from its first damaged record aside."""
    fd = open_regular(path, os.O_RDWR)
    try:
        lock_exclusive(fd, lock_timeout, path, session_id)  # no writer appends while we look
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        scratch = Replay(path, session_id)
        problem: str | None = None
        try:
            scratch.apply_lines(data)
        except SessionCorruptedError as exc:
            problem = str(exc)
        kept = scratch.offset
        if kept == len(data):
            return RepairReport(path, scratch.lines, kept, None, 0, None)
        problem = problem or f"{path}:{scratch.lines + 1}: an unterminated last record (a torn write)"
        report = RepairReport(path, scratch.lines, kept, scratch.lines + 1, len(data) - kept, problem)
        if not apply:
            return report
        aside = move_aside(path, data[kept:])
        replacement = path.with_name(f".{aside.name}.repair")
        _write_new(replacement, data[:kept])
        os.replace(replacement, path)
        fsync_dir(path.parent)
        return RepairReport(path, scratch.lines, kept, report.damaged_line, report.damaged_bytes, problem, aside)
    finally:
        os.close(fd)


def move_aside(path: Path, payload: bytes) -> Path:
    """Keep ``payload`` (bytes cut from the session file ``path``), unchanged and flushed to disk, in a new
    ``<file>.damaged-<UTC time>`` beside it; returns that file's path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    _write_new(aside, payload)
    fsync_dir(path.parent)
    return aside


def _write_new(path: Path, payload: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        write_all(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
