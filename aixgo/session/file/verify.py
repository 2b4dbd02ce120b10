"""Checking a whole session file, record by record: ``aixgo sessions verify`` on the file store.

Every complete line is checked as a reader would, and more: its CRC-32, that it parses, that it is a
valid record that the session's rules allow where it stands (through the session core: ``seq`` and
parent follow the head, ids appear once, checkpoints and restores name what exists), and that the head
a head-moving line records (its chain hash and message count) is the one its content makes. So a changed
byte, a deleted, duplicated or inserted line, and a line rewritten with a valid checksum are each found,
named by file and line. Bytes after the last complete line are reported too, unless a writer holds the
file's lock (a record being written). The file is read in chunks, without a lock: writers go on.
"""

from __future__ import annotations

import os
from pathlib import Path

from aixgo.errors import SessionCorruptedError
from aixgo.session.file.dirs import open_regular
from aixgo.session.file.lines import head_from_meta
from aixgo.session.file.locks import writer_at_work
from aixgo.session.file.replay import Replay
from aixgo.session.types import Verification

_CHUNK = 4 * 1024 * 1024


def verify_file(path: Path, session_id: str) -> Verification:
    """Check every record of the session file ``path``; the first problem found stops the check."""
    fd = open_regular(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        replay = Replay(path, session_id)
        pos = 0
        try:
            while pos < size:
                data = os.pread(fd, min(_CHUNK, size - pos), pos)
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    if len(data) < _CHUNK:  # the unterminated end of the file
                        break
                    data = _whole_line(fd, pos, size)
                    cut = len(data) if data.endswith(b"\n") else 0
                    if cut == 0:
                        break
                for line in data[: cut - 1].split(b"\n"):
                    meta = replay.apply_line(line)
                    if meta is not None:
                        _check_head(replay, meta)
                pos += cut
        except SessionCorruptedError as exc:
            return Verification(session_id, replay.lines, str(exc))
        state = replay.state
        if state.header is None:
            return Verification(session_id, replay.lines, f"{path}: no complete session header")
        tail = size - replay.offset
        if tail and not writer_at_work(fd):
            return Verification(
                session_id,
                replay.lines,
                f"{path}:{replay.lines + 1}: an unterminated last record of {tail} bytes (a torn write, a lost "
                "newline or zeroed blocks): the next write moves it aside (or `aixgo sessions repair --apply`)",
            )
        return Verification(session_id, replay.lines, None, len(state.entries), len(state.checkpoints))
    finally:
        os.close(fd)


def _check_head(replay: Replay, meta: bytes) -> None:
    """The head a head-moving line recorded must be the one its content made."""
    head = replay.state.head
    try:
        recorded = head_from_meta(head.entry_id, head.seq, meta)
    except ValueError as exc:
        raise replay.damage(str(exc), replay.lines) from None
    if recorded != head:
        raise replay.damage(
            "the chain hash or message count it records is not the one its content makes (the record, or one "
            "before it, was changed)",
            replay.lines,
        )


def _whole_line(fd: int, pos: int, size: int) -> bytes:
    """The bytes from ``pos`` through the next newline (or to the end of the file)."""
    parts = []
    while pos < size:
        data = os.pread(fd, min(_CHUNK, size - pos), pos)
        newline = data.find(b"\n")
        if newline >= 0:
            parts.append(data[: newline + 1])
            break
        parts.append(data)
        pos += len(data)
    return b"".join(parts)
