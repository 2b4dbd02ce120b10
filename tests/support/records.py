"""Reading and writing the file store's lines in tests (see :mod:`aixgo.session.file.lines`)."""

from __future__ import annotations

import json
import zlib
from typing import Any


def split_line(line: str | bytes) -> tuple[Any, str | None]:
    """The record of one stored line, and its head metadata (None when it has none)."""
    text = line.decode() if isinstance(line, bytes) else line
    text = text.rstrip("\n")
    if "\t" not in text:  # a file without checksums
        return json.loads(text), None
    payload = text.rpartition("\t")[0]
    record, tab, meta = payload.partition("\t")
    return json.loads(record), (meta if tab else None)


def parse_line(line: str | bytes) -> Any:
    """The record of one stored line."""
    return split_line(line)[0]


def stored_line(record: dict[str, Any], meta: str | None = None) -> str:
    """The line the file store would write for ``record`` (a tamperer's valid checksum included)."""
    payload = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    if meta is not None:
        payload += "\t" + meta
    return f"{payload}\t{zlib.crc32(payload.encode()):08x}\n"
