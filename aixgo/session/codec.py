"""The canonical JSON form of entries and checkpoints, shared by every backend.

An entry is stored as one compact JSON object whose first keys are ``"k":"e"`` and its ``type``::

    {"k":"e","type":"message","id":"e_…","parent_id":null,"seq":1,"ts":"2026-…Z","data":{…}}

Every backend stores exactly these bytes, so a checkpoint's checksum (a SHA-256 chain over them,
see :func:`chain_hash`) survives an export from one backend and an import into another.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from aixgo.session.types import Checkpoint, Entry, EntryType

FORMAT_VERSION = 1
"""Version of the stored record format. Readers refuse data with a higher version."""

ROOT_HASH = b"\x00" * 32
_ENTRY_TYPES = {t.value: t for t in EntryType}  # a dict lookup is several times faster than EntryType()
"""The chain hash of the empty history."""

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def dumps(obj: Any) -> str:
    """Compact, deterministic JSON (key order preserved, no NaN)."""
    return _dumps(obj)


def format_ts(ts: datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z`` suffix."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    """Parse a timestamp written by :func:`format_ts`."""
    return datetime.fromisoformat(text)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def encode_entry(entry: Entry) -> str:
    """The canonical single-line JSON of ``entry`` (no trailing newline)."""
    return dumps(
        {
            "k": "e",
            "type": entry.type.value,
            "id": entry.id,
            "parent_id": entry.parent_id,
            "seq": entry.seq,
            "ts": format_ts(entry.timestamp),
            "data": entry.data,
        }
    )


def entry_from_record(rec: dict[str, Any]) -> Entry:
    """Build an :class:`Entry` from a decoded entry record; raises ``KeyError``/``ValueError`` if malformed."""
    data = rec["data"]
    seq = rec["seq"]
    if not isinstance(data, dict) or not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError("entry record has a bad 'data' or 'seq'")
    entry_id = rec["id"]
    parent = rec["parent_id"]
    if not isinstance(entry_id, str) or not (parent is None or isinstance(parent, str)):
        raise ValueError("entry record has a bad 'id' or 'parent_id'")
    return Entry(
        id=entry_id,
        parent_id=parent,
        seq=seq,
        timestamp=parse_ts(rec["ts"]),
        type=_ENTRY_TYPES[rec["type"]],
        data=data,
    )


def decode_entry(line: str | bytes) -> Entry:
    """Parse one canonical entry line."""
    rec = json.loads(line)
    if not isinstance(rec, dict) or rec.get("k") != "e":
        raise ValueError("not an entry record")
    return entry_from_record(rec)


def chain_hash(parent_hash: bytes, encoded_entry: str | bytes) -> bytes:
    """The checksum chain: ``sha256(parent_hash || canonical entry bytes)``."""
    raw = encoded_entry.encode() if isinstance(encoded_entry, str) else encoded_entry
    return hashlib.sha256(parent_hash + raw).digest()


def header_record(
    session_id: str, agent: str, user_id: str | None, created_at: datetime, metadata: dict[str, Any]
) -> dict[str, Any]:
    """The session header record: first line of a session file and of an export."""
    return {
        "k": "s",
        "v": FORMAT_VERSION,
        "id": session_id,
        "agent": agent,
        "user_id": user_id,
        "created_at": format_ts(created_at),
        "metadata": metadata,
    }


def checkpoint_to_record(cp: Checkpoint) -> dict[str, Any]:
    """The JSON-able record of a checkpoint."""
    return {
        "k": "c",
        "id": cp.id,
        "entry_id": cp.entry_id,
        "seq": cp.seq,
        "ts": format_ts(cp.timestamp),
        "checksum": cp.checksum,
        "metadata": cp.metadata,
    }


def checkpoint_from_record(rec: dict[str, Any], session_id: str) -> Checkpoint:
    """Build a :class:`Checkpoint` from its record; raises ``KeyError``/``ValueError`` if malformed."""
    metadata = rec.get("metadata") or {}
    if not isinstance(metadata, dict) or not isinstance(rec["id"], str) or not isinstance(rec["seq"], int):
        raise ValueError("checkpoint record is malformed")
    return Checkpoint(
        id=rec["id"],
        session_id=session_id,
        entry_id=rec["entry_id"],
        seq=rec["seq"],
        timestamp=parse_ts(rec["ts"]),
        checksum=str(rec["checksum"]),
        metadata=metadata,
    )
