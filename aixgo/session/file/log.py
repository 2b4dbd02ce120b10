"""One session's log file, open in this process: its bytes replayed through the session core.

:class:`SessionLog` holds the descriptor of ``<session-id>.jsonl`` and the
:class:`~aixgo.session.core.SessionState` its records replay to. It reads only the bytes other
processes appended since it last looked, and writes a record as one ``write`` (looping on a short
write) under ``flock(LOCK_EX)`` plus its own thread lock. Every rule comes from the core; this
module only knows lines, offsets, locks and what a torn write looks like.

Each line is a record's canonical JSON, a tab and the CRC-32 of the JSON as 8 hex digits (JSON
never holds a raw tab, so the tab can only be the separator)::

    {"k":"e","type":"message",…}\t1a2b3c4d

A *complete* line (one that ends in a newline) that fails its CRC or does not parse is damage,
wherever it is: :class:`~aixgo.errors.SessionCorruptedError` names the file and line, and nothing
is cut away (``aixgo sessions repair`` moves it aside on request). Only an unterminated last line is
a torn write: readers ignore it and the next writer cuts it off. Files written before checksums
(no tab on the header line) are read as they are.

Readers take no lock: a record's single ``write`` ends with its newline, so a reader that meets a
record being written sees an unterminated tail and ignores it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aixgo.errors import SessionCorruptedError, StoreError, UnsupportedVersionError
from aixgo.logs import get_logger
from aixgo.session.core.codec import loads
from aixgo.session.core.records import NewerVersionError, RecordError, entry_from_record
from aixgo.session.core.state import SessionState

log = get_logger("aixgo.session.file")

CRC_DIGITS = 8


@contextlib.contextmanager
def os_errors(path: Path) -> Iterator[None]:
    """Turn an operating-system failure (permissions, full disk, a file where a folder should be) into
    a :class:`StoreError` naming the path."""
    try:
        yield
    except OSError as exc:
        where = exc.filename if exc.filename is not None else path
        raise StoreError(f"file store: {exc.strerror or exc} ({where})") from exc


class _BadLine(Exception):
    """A complete line that is not a valid record (``parsed``: it was JSON, but not a valid record)."""

    def __init__(self, reason: str, parsed: bool) -> None:
        super().__init__(reason)
        self.parsed = parsed


class SessionLog:
    """This process's view of one session file (see the module docstring)."""

    def __init__(self, path: Path, session_id: str, fd: int) -> None:
        self.path = path
        self.session_id = session_id
        self.fd = fd
        self.lock = threading.RLock()
        self.closed = False
        self.offset = 0
        self.lines = 0
        self.checksummed = True  # set from the header line: files of the first version have no CRCs
        self.state = SessionState()

    # -- reading ------------------------------------------------------------------------------

    def catch_up(self, *, exclusive: bool, sync: Callable[[int], None]) -> None:
        """Apply the records appended since the last read; the caller holds :attr:`lock`.

        With ``exclusive`` the caller holds ``flock(LOCK_EX)`` and a torn tail is truncated (then
        ``sync``-ed); otherwise a torn tail (maybe a record being written) is left alone."""
        size = os.fstat(self.fd).st_size
        if size == self.offset:
            return
        if size < self.offset:
            raise SessionCorruptedError(
                f"the file shrank from {self.offset} to {size} bytes while open",
                session_id=self.session_id,
                path=self.path,
            )
        data = os.pread(self.fd, size - self.offset, self.offset)
        consumed = self.apply_lines(data)
        if consumed < len(data) and exclusive:
            log.warning(
                "session.torn_tail_truncated",
                session_id=self.session_id,
                path=str(self.path),
                dropped_bytes=len(data) - consumed,
            )
            os.ftruncate(self.fd, self.offset)
            sync(self.fd)

    def apply_lines(self, data: bytes) -> int:
        """Apply the complete records in ``data``; returns how many bytes were consumed.

        The complete lines are first decoded as one JSON array (one parser call instead of one per
        line: replaying a long session is mostly decoding); if that does not give exactly one
        object per line, or a record is refused, the rest is applied line by line, so an error
        names its line and a torn tail is told from damage."""
        consumed = 0
        if self.state.header is None:
            consumed = self._apply_one_by_one(data, max_lines=1)
            if self.state.header is None:
                return consumed
        end = data.rfind(b"\n")
        lines = data[consumed:end].split(b"\n") if end > consumed else []
        if len(lines) > 1:
            bodies = [body for body in map(self._checked_body, lines) if body is not None]
            if len(bodies) == len(lines):
                try:
                    records = loads(b"[" + b",".join(bodies) + b"]")
                except ValueError:
                    records = None
                if isinstance(records, list) and len(records) == len(bodies) and all(type(r) is dict for r in records):
                    applied = self._apply_decoded(lines, bodies, records)
                    consumed += sum(len(line) + 1 for line in lines[:applied])
        return consumed + self._apply_one_by_one(data[consumed:])

    def _checked_body(self, line: bytes) -> bytes | None:
        """The record's JSON if the line's checksum matches (or a legacy file has none), else None."""
        body, tab, crc = line.rpartition(b"\t")
        if not tab:
            return None if self.checksummed else line
        try:
            return body if int(crc, 16) == zlib.crc32(body) and len(crc) == CRC_DIGITS else None
        except ValueError:
            return None

    def _apply_decoded(self, lines: list[bytes], bodies: list[bytes], records: list[Any]) -> int:
        """Apply decoded records until one is refused; returns how many were applied."""
        state = self.state
        add_entry = state.add_entry
        for count, (line, body, rec) in enumerate(zip(lines, bodies, records, strict=True)):
            try:
                if rec.get("k") == "e":  # the common record, without apply()'s dispatch
                    add_entry(entry_from_record(rec), body)
                else:
                    state.apply(rec, body)
            except RecordError:
                return count
            self.lines += 1
            self.offset += len(line) + 1
        return len(lines)

    def _apply_one_by_one(self, data: bytes, max_lines: int | None = None) -> int:
        pos = 0
        while max_lines is None or self.lines < max_lines:
            newline = data.find(b"\n", pos)
            if newline < 0:
                return pos
            line = data[pos:newline]
            try:
                self._apply(line)
            except _BadLine as bad:  # a complete line: damage, never a torn write
                raise SessionCorruptedError(
                    f"damaged record: {bad}", session_id=self.session_id, path=self.path, line=self.lines + 1
                ) from None
            self.lines += 1
            self.offset += newline + 1 - pos
            pos = newline + 1
        return pos

    def _apply(self, line: bytes) -> None:
        if self.lines == 0:
            self.checksummed = b"\t" in line
        raw = self._checked_body(line)
        if raw is None:
            raise _BadLine("its checksum does not match (or it has none)", parsed=False)
        try:
            rec = loads(raw)
        except ValueError as exc:
            raise _BadLine(f"not valid JSON ({exc})", parsed=False) from None
        try:
            self.state.apply(rec, raw)
            if self.lines == 0 and self.state.header is not None and self.state.header.id != self.session_id:
                raise RecordError(f"the header names session {self.state.header.id!r}, not {self.session_id!r}")
        except NewerVersionError as exc:
            raise UnsupportedVersionError(str(exc), session_id=self.session_id, path=self.path, line=1) from None
        except RecordError as exc:
            raise _BadLine(str(exc), parsed=True) from None

    # -- writing ------------------------------------------------------------------------------

    def write_record(self, line: str, sync: Callable[[int], None]) -> bytes:
        """Write one record line; the caller holds :attr:`lock` and ``flock(LOCK_EX)``. Returns its JSON bytes.

        A failed or short write is cut off again, so nothing half-written stays visible."""
        raw = line.encode()
        payload = frame(raw)
        try:
            written = 0
            while written < len(payload):
                written += os.write(self.fd, payload[written:])
            sync(self.fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.offset)
            raise StoreError(f"cannot write to {self.path}: {exc.strerror or exc}") from exc
        self.lines += 1
        self.offset += len(payload)
        return raw


def frame(record: bytes) -> bytes:
    """A record's stored line: its JSON, a tab, its CRC-32 (8 hex digits) and a newline."""
    return b"%s\t%08x\n" % (record, zlib.crc32(record))
