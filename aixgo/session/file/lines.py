"""The lines of a session file: framing, checksums, head metadata, and reading backwards.

Every line is a record's canonical JSON, then (for records that move the head: entries, restores
and head moves) the head it leaves, then the CRC-32 of everything before it, tab-separated::

    {"k":"s",…}\\t<crc>                                   header, checkpoint
    {"k":"e",…}\\t<messages> <chain hash hex>\\t<crc>     entry, restore, head move

JSON never holds a raw tab, so tabs can only be separators. The head metadata makes the file
readable from its end: the last head-moving line says where the history ends, how many chat
messages it holds and its chain hash, so a new process can append, summarise a session or read its
last entries without replaying the whole file. A file without checksums has no tabs at all.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator

from aixgo.session.core.state import Head

CRC_DIGITS = 8
BACKWARD_CHUNK = 64 * 1024


class LineError(ValueError):
    """A complete line whose checksum or framing is wrong."""


def frame(record: bytes, head: Head | None = None) -> bytes:
    """The stored line of ``record`` (its JSON), with the head it leaves if it moves the head."""
    payload = record if head is None else b"%s\t%d %s" % (record, head.message_count, head.hash.hex().encode())
    return b"%s\t%08x\n" % (payload, zlib.crc32(payload))


def unframe(line: bytes, *, checksummed: bool) -> tuple[bytes, bytes | None]:
    """The JSON and head metadata of a stored line (without its newline), its checksum verified.

    A line without any tab is accepted only from a file without checksums (``checksummed`` False)."""
    payload, tab, crc = line.rpartition(b"\t")
    if not tab:
        if checksummed:
            raise LineError("it has no checksum")
        return line, None
    if len(crc) != CRC_DIGITS:
        raise LineError("its checksum is malformed")
    try:
        expected = int(crc, 16)
    except ValueError:
        raise LineError("its checksum is malformed") from None
    if zlib.crc32(payload) != expected:
        raise LineError("its checksum does not match its content")
    record, tab, meta = payload.partition(b"\t")
    return record, (meta if tab else None)


def head_from_meta(entry_id: str | None, seq: int, meta: bytes) -> Head:
    """The head a head-moving line leaves, from its metadata."""
    try:
        count, digest = meta.split(b" ")
        return Head(entry_id, seq, bytes.fromhex(digest.decode()), int(count))
    except ValueError:
        raise LineError(f"its head metadata is malformed ({meta[:80]!r})") from None


def iter_back(fd: int, end: int, chunk: int = BACKWARD_CHUNK) -> Iterator[tuple[int, bytes]]:
    """The complete lines before byte ``end`` (which follows a newline), last first, with their offsets."""
    pos = end
    tail = b""  # the start of a line whose beginning lies in an earlier chunk
    while pos > 0:
        size = min(chunk, pos)
        pos -= size
        data = os.pread(fd, size, pos) + tail
        parts = data.split(b"\n")
        tail = parts[0]
        offset = pos + len(data)
        for part in reversed(parts[1:]):
            offset -= len(part) + 1
            if part:
                yield offset + 1, part
        chunk = min(chunk * 2, 4 * 1024 * 1024)
    if tail:
        yield 0, tail


def line_number(fd: int, offset: int) -> int:
    """The 1-based number of the line that starts at ``offset`` (for error messages only: reads the prefix)."""
    count, pos = 0, 0
    while pos < offset:
        size = min(1024 * 1024, offset - pos)
        count += os.pread(fd, size, pos).count(b"\n")
        pos += size
    return count + 1
