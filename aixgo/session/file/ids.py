"""The entry-id index kept beside a session file: a retried append is recognised at any distance.

An append with an ``entry_id`` already stored must return the stored entry instead of writing it
again, in any process, however far back that entry is. Replaying the file to find out would make
the first append of every process O(file); ``<session-id>.ids`` answers in O(1) instead: an
open-addressing hash table on disk (linear probing, at most half full, doubled when it fills), read
and written with ``pread``/``pwrite`` only while the session file's write lock is held.

Layout (little-endian)::

    header 128 bytes  magic "AIXGOIDS", version, log2(slots), ids filed, covered (bytes of the
                      session file indexed), the session file's device, inode and first-line CRC,
                      the machine's boot id when it was written; then the CRC-32 of those fields
    slots   16 bytes each: an 8-byte hash of the entry id (0: empty) and the line's offset + 1

The session file is the truth; the index is only ever a shortcut into it:

* a hit is read back from the session file (the line at that offset, its CRC checked) and counts
  only if it is that entry: a colliding hash, or a slot that no longer fits the file, is passed over;
* a miss is trusted only for the bytes the header says the index covers. Entry lines written after
  them (by a process that died between its append and its index update, or by an older aixgo) are
  indexed first, from the session file;
* an index that names another file (the session was replaced, repaired or created anew), covers
  more than the file holds or stops inside a line, fails its header CRC, or was last written during
  an earlier boot of the machine (its writes are not flushed: a process crash loses none of them,
  a power loss may keep some of its pages and lose others) is rebuilt from the session file, as is
  a missing one (sessions written before it existed): that append costs one scan of the file.

The index is only ever written in place (grown or rebuilt too), so a process keeps it open; every
use starts with :meth:`IdIndex.refresh`, which reads the header again only when the session file
grew since this process last wrote (someone else appended, and so updated the index). Correctness
does not rest on the index being shared: whatever another process did or did not file, the bytes
past the header's ``covered`` are indexed from the session file before a lookup.
"""

from __future__ import annotations

import array
import errno
import functools
import hashlib
import os
import stat
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

from aixgo.session.core.codec import ENTRY_START, entry_id_of

SUFFIX = ".ids"
_MAGIC = b"AIXGOIDS"
_VERSION = 1
_FIELDS = struct.Struct("<8sIIQQQQI16s")  # magic, version, bits, count, covered, dev, ino, first-line crc, boot
_CRC = struct.Struct("<I")
_HEADER_SIZE = 128
assert _FIELDS.size + _CRC.size <= _HEADER_SIZE
_SLOT = struct.Struct("<QQ")
_FIRST_BITS = 6
_PROBE_READ = 8  # slots read at once while probing
_SCAN_CHUNK = 4 * 1024 * 1024


@functools.cache
def boot_id() -> bytes:
    """16 bytes that change when the machine restarts (Linux's boot id); zeros where there is none."""
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            return bytes.fromhex(f.read().strip().replace(b"-", b"").decode())[:16].ljust(16, b"\0")
    except (OSError, ValueError):
        return b"\0" * 16


def id_hash(entry_id: str) -> int:
    """The 64-bit hash an id is filed under (never 0, which marks an empty slot)."""
    digest = hashlib.blake2b(entry_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


def scan_entry_ids(log_fd: int, start: int, end: int) -> Iterator[tuple[str, int]]:
    """The id and offset of every entry line between ``start`` and ``end`` (both line boundaries),
    read from the session file in large chunks. A line too damaged to name its id is left to the
    readers, which report it."""
    pos = start
    while pos < end:
        data = os.pread(log_fd, min(_SCAN_CHUNK, end - pos), pos)
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # one line longer than the chunk
            cut = len(read_line(log_fd, pos, end)) + 1
            data = os.pread(log_fd, cut, pos)
        offset = pos
        for line in data[: cut - 1].split(b"\n"):
            if line.startswith(ENTRY_START):
                entry_id = entry_id_of(line)
                if entry_id is not None:
                    yield entry_id, offset
            offset += len(line) + 1
        pos += cut


def read_line(fd: int, offset: int, end: int) -> bytes:
    """The line that starts at ``offset`` (without its newline), read in growing chunks, never past ``end``."""
    chunk, parts, pos = 4096, [], offset
    while pos < end:
        data = os.pread(fd, min(chunk, end - pos), pos)
        if not data:
            break
        newline = data.find(b"\n")
        if newline >= 0:
            parts.append(data[:newline])
            break
        parts.append(data)
        pos += len(data)
        chunk = min(chunk * 4, _SCAN_CHUNK)
    return b"".join(parts)


class _Table:
    """Slots in memory, for building or growing an index (then written out whole)."""

    def __init__(self, bits: int, slots: bytes | None = None, count: int = 0) -> None:
        self.bits = bits
        self.slots = array.array("Q", bytes(_SLOT.size << bits) if slots is None else slots)
        if sys.byteorder != "little":
            self.slots.byteswap()
        self.count = count

    def add(self, key: int, value: int) -> None:
        slots, mask = self.slots, (1 << self.bits) - 1
        i = key & mask
        while slots[2 * i]:
            i = (i + 1) & mask
        slots[2 * i], slots[2 * i + 1] = key, value
        self.count += 1

    def grown(self) -> _Table:
        """This table doubled when it is more than half full, else itself."""
        if self.count * 2 <= 1 << self.bits:
            return self
        bigger = _Table(self.bits + 1)
        slots = self.slots
        for i in range(0, len(slots), 2):
            if slots[i]:
                bigger.add(slots[i], slots[i + 1])
        return bigger

    def to_bytes(self) -> bytes:
        """The slots as stored (little-endian)."""
        if sys.byteorder == "little":
            return self.slots.tobytes()
        swapped = array.array("Q", self.slots)
        swapped.byteswap()
        return swapped.tobytes()


class IdIndex:
    """The open index of one session file (see the module docstring). The caller holds the session
    file's write lock around every method."""

    def __init__(self, path: Path, log_fd: int) -> None:
        self.path = path
        self.fd = -1
        self._log_fd = log_fd
        st = os.fstat(log_fd)
        self._log = (st.st_dev, st.st_ino, zlib.crc32(read_line(log_fd, 0, st.st_size)))
        self.bits = _FIRST_BITS
        self.count = 0
        self.covered = -1  # nothing known until the header is read
        self._vacant: tuple[str, int, int] | None = None  # the last id looked up in vain: its hash, free slot

    def close(self) -> None:
        """Close the index file (the next :meth:`refresh` opens it again and reads its header)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.covered = -1

    def refresh(self, log_end: int) -> None:
        """Open the index if needed and make it cover the session file's complete lines up to ``log_end``:
        re-read its header if another process wrote since this one did, index what nobody indexed, or
        rebuild it when it cannot be trusted."""
        if self.fd < 0:
            self._open()
        elif self.covered == log_end:
            return  # nobody wrote since this process did: the header it holds is the one on disk
        if not self._read_header() or self.covered > log_end or not self._at_line_start(self.covered):
            self.rebuild(log_end)
            return
        if self.covered < log_end:
            for entry_id, offset in scan_entry_ids(self._log_fd, self.covered, log_end):
                self._add(id_hash(entry_id), offset + 1)
            self.covered = log_end
            self._write_header()

    def _open(self) -> None:
        """Open (or create) the index file; never a link, never waiting on a FIFO (O_NONBLOCK does
        nothing to a regular file)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, f"{self.path} is not a regular file")
        self.fd = fd

    def _at_line_start(self, offset: int) -> bool:
        return offset == 0 or os.pread(self._log_fd, 1, offset - 1) == b"\n"

    # -- the header -------------------------------------------------------------------------------

    def _read_header(self) -> bool:
        """Load the header; False if it cannot be trusted for this session file (see the module docstring)."""
        raw = os.pread(self.fd, _HEADER_SIZE, 0)
        if len(raw) < _FIELDS.size + _CRC.size:
            return False
        body = raw[: _FIELDS.size]
        if zlib.crc32(body) != _CRC.unpack_from(raw, _FIELDS.size)[0]:
            return False
        magic, version, bits, count, covered, dev, ino, first, boot = _FIELDS.unpack(body)
        if magic != _MAGIC or version != _VERSION or (dev, ino, first) != self._log or boot != boot_id():
            return False
        if not _FIRST_BITS <= bits < 48 or os.fstat(self.fd).st_size < _HEADER_SIZE + (_SLOT.size << bits):
            return False
        self.bits, self.count, self.covered = bits, count, covered
        return True

    def _header(self) -> bytes:
        dev, ino, first = self._log
        body = _FIELDS.pack(_MAGIC, _VERSION, self.bits, self.count, self.covered, dev, ino, first, boot_id())
        return (body + _CRC.pack(zlib.crc32(body))).ljust(_HEADER_SIZE, b"\0")

    def _write_header(self) -> None:
        os.pwrite(self.fd, self._header(), 0)

    # -- lookups and additions --------------------------------------------------------------------

    def candidates(self, entry_id: str) -> Iterator[int]:
        """Offsets of the session file's lines that may hold ``entry_id`` (the slots of its hash), in
        probe order; the caller reads each back and keeps only the entry with that id."""
        key = id_hash(entry_id)
        mask = (1 << self.bits) - 1
        i = key & mask
        self._vacant = None
        while True:
            run = min(_PROBE_READ, mask + 1 - i)
            raw = os.pread(self.fd, run * _SLOT.size, _HEADER_SIZE + i * _SLOT.size)
            for stored, value in _SLOT.iter_unpack(raw):
                if stored == 0:
                    self._vacant = (entry_id, key, i)  # where add() files it, if nothing moves meanwhile
                    return
                if stored == key:
                    yield value - 1
                i = (i + 1) & mask

    def add(self, entry_id: str, offset: int, end: int) -> None:
        """File the entry line at ``offset`` under its id and record that the index covers the session
        file up to ``end`` (the end of that line, just written)."""
        vacant, self._vacant = self._vacant, None
        if vacant is not None and vacant[0] == entry_id:  # the slot its lookup ended on: still free
            os.pwrite(self.fd, _SLOT.pack(vacant[1], offset + 1), _HEADER_SIZE + vacant[2] * _SLOT.size)
            self._filed()
        else:
            self._add(id_hash(entry_id), offset + 1)
        self.covered = end
        self._write_header()

    def _add(self, key: int, value: int) -> None:
        mask = (1 << self.bits) - 1
        i = key & mask
        while True:
            stored, old = _SLOT.unpack(os.pread(self.fd, _SLOT.size, _HEADER_SIZE + i * _SLOT.size))
            if stored == 0:
                break
            if (stored, old) == (key, value):  # filed already (indexing again after a crash mid-update)
                return
            i = (i + 1) & mask
        os.pwrite(self.fd, _SLOT.pack(key, value), _HEADER_SIZE + i * _SLOT.size)
        self._filed()

    def _filed(self) -> None:
        """Count a slot just filled; double the table when it is more than half full."""
        self.count += 1
        if self.count * 2 > 1 << self.bits:
            table = _Table(self.bits, os.pread(self.fd, _SLOT.size << self.bits, _HEADER_SIZE), self.count)
            self._write_table(table.grown(), self.covered)

    # -- building --------------------------------------------------------------------------------

    def rebuild(self, log_end: int) -> None:
        """Index the whole session file anew (up to ``log_end``), never in fewer slots than now: another
        process may hold this header, as long as nobody writes to the session."""
        filed = [(id_hash(entry_id), offset + 1) for entry_id, offset in scan_entry_ids(self._log_fd, 0, log_end)]
        table = _Table(max(self.bits, _FIRST_BITS, (2 * len(filed)).bit_length()))
        for key, value in filed:
            table.add(key, value)
        self._write_table(table, log_end)

    def _write_table(self, table: _Table, covered: int) -> None:
        """Write ``table`` over the index file, in place. The header is made invalid first, so a crash
        half way leaves an index the next writer rebuilds rather than one that lies."""
        slots = table.to_bytes()
        os.pwrite(self.fd, b"\0" * _HEADER_SIZE, 0)
        os.pwrite(self.fd, slots, _HEADER_SIZE)
        os.ftruncate(self.fd, _HEADER_SIZE + len(slots))
        self.bits, self.count, self.covered = table.bits, table.count, covered
        self._write_header()
