"""Replaying a session file from its first line through the session core (:class:`SessionState`).

Used when a process needs the whole tree (all entries, checkpoints, a restore, an export), for files
without checksums (whose lines carry no head metadata either), and by ``repair``. A complete line that fails
its checksum, does not parse or breaks a rule is damage, named by file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aixgo.errors import SessionCorruptedError, UnsupportedVersionError
from aixgo.session.core.codec import kind_of, loads
from aixgo.session.core.records import NewerVersionError, RecordError, entry_from_record
from aixgo.session.core.state import SessionState
from aixgo.session.file.lines import LineError, unframe


class Replay:
    """A session file's records applied in order (``offset``: bytes of complete lines applied)."""

    def __init__(self, path: Path, session_id: str) -> None:
        self.path = path
        self.session_id = session_id
        self.offset = 0
        self.lines = 0
        self.checksummed = True  # set from the header line: a file whose header has no CRC has none
        self.state = SessionState()

    def damage(self, reason: str, line: int) -> SessionCorruptedError:
        """The error for a damaged line."""
        return SessionCorruptedError(
            f"damaged record: {reason}", session_id=self.session_id, path=self.path, line=line
        )

    def apply_lines(self, data: bytes) -> int:
        """Apply the complete records in ``data``; returns how many bytes were consumed.

        The complete lines are first decoded as one JSON array (one parser call instead of one per
        line: replaying a long session is mostly decoding); if that fails or a record is refused,
        the rest is applied line by line, so an error names its line."""
        consumed = 0
        if self.state.header is None:
            consumed = self._apply_one_by_one(data, max_lines=1)
            if self.state.header is None:
                return consumed
        end = data.rfind(b"\n")
        lines = data[consumed:end].split(b"\n") if end > consumed else []
        if len(lines) > 1:
            try:
                bodies = [unframe(line, checksummed=self.checksummed)[0] for line in lines]
                records = loads(b"[" + b",".join(bodies) + b"]")
            except ValueError:
                records = None
            if isinstance(records, list) and len(records) == len(lines) and all(type(r) is dict for r in records):
                applied = self._apply_decoded(lines, bodies, records)
                consumed += sum(len(line) + 1 for line in lines[:applied])
        return consumed + self._apply_one_by_one(data[consumed:])

    def _apply_decoded(self, lines: list[bytes], bodies: list[bytes], records: list[Any]) -> int:
        """Apply decoded records until one is refused; returns how many were applied."""
        state = self.state
        add_entry = state.add_entry
        for count, (line, body, rec) in enumerate(zip(lines, bodies, records, strict=True)):
            try:
                if kind_of(rec) == "e":  # the common record, without apply()'s dispatch
                    add_entry(entry_from_record(rec), body)
                else:
                    state.apply(rec, body)
            except RecordError:
                return count
            self.lines += 1
            self.offset += len(line) + 1
        return len(lines)

    def apply_line(self, line: bytes) -> bytes | None:
        """Apply one complete line (without its newline) and return its head metadata (None if it has
        none). Raises :class:`SessionCorruptedError` naming the line."""
        meta = self._apply(line)
        self.lines += 1
        self.offset += len(line) + 1
        return meta

    def _apply_one_by_one(self, data: bytes, max_lines: int | None = None) -> int:
        pos = 0
        while max_lines is None or self.lines < max_lines:
            newline = data.find(b"\n", pos)
            if newline < 0:
                return pos
            self._apply(data[pos:newline])
            self.lines += 1
            self.offset += newline + 1 - pos
            pos = newline + 1
        return pos

    def _apply(self, line: bytes) -> bytes | None:
        number = self.lines + 1
        if self.lines == 0:
            self.checksummed = b"\t" in line
        try:
            raw, meta = unframe(line, checksummed=self.checksummed)
            rec = loads(raw)
        except ValueError as exc:  # LineError, or not JSON
            reason = str(exc) if isinstance(exc, LineError) else f"not valid JSON ({exc})"
            raise self.damage(reason, number) from None
        try:
            self.state.apply(rec, raw)
            header = self.state.header
            if self.lines == 0 and header is not None and header.id != self.session_id:
                raise RecordError(f"the header names session {header.id!r}, not {self.session_id!r}")
        except NewerVersionError as exc:
            raise UnsupportedVersionError(str(exc), session_id=self.session_id, path=self.path, line=1) from None
        except RecordError as exc:
            raise self.damage(str(exc), number) from None
        return meta
