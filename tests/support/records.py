"""Reading and writing the file store's lines in tests: JSON, a tab, its CRC-32 (8 hex digits)."""

from __future__ import annotations

import json
import zlib
from typing import Any


def parse_line(line: str | bytes) -> Any:
    """The record of one stored line (with or without its checksum)."""
    text = line.decode() if isinstance(line, bytes) else line
    body, tab, _ = text.rstrip("\n").rpartition("\t")
    return json.loads(body if tab else text)


def stored_line(record: dict[str, Any]) -> str:
    """The line the file store would write for ``record`` (a tamperer's valid checksum included)."""
    body = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    return f"{body}\t{zlib.crc32(body.encode()):08x}\n"
