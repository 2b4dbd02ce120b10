"""The canonical JSON form of session records, shared by every store and by export/import.

A record is one compact JSON object whose first key ``"k"`` names its kind::

    {"k":"s","v":1,"id":…,"agent":…,"user_id":…,"created_at":…,"metadata":{…}}   session header
    {"k":"e","type":"message","id":"e_…","parent_id":null,"seq":1,"ts":"…Z","data":{…}}   entry
    {"k":"c","id":…,"entry_id":…,"seq":…,"ts":…,"checksum":…,"metadata":{…}}   checkpoint
    {"k":"r","checkpoint_id":…,"entry_id":…,"seq":…,"ts":…}                     restore (head moves back)
    {"k":"h","entry_id":…,"seq":…,"ts":…}                                       head move (import)
    {"k":"end","entries":…,"checkpoints":…,"sha256":…}                          end of an export

Every store keeps the exact bytes of :func:`encode_entry`, so a checkpoint's checksum (a SHA-256
chain over them, see :func:`chain_hash`) survives an export from one store and an import into
another. Decoding is strict: ``NaN``/``Infinity`` are not JSON and are refused both ways.

This module is the one owner of those bytes, read as well as written. The stores' fast paths that
recognise a record without decoding it (the file store's backward reads, entry-id index and listing;
the Redis Lua scripts, whose constants ``scripts.py`` generates from these) use :data:`ENTRY_START`,
:data:`ENTRY_LINK`, :func:`entry_id_of`, :func:`entry_type_prefix` and :func:`kind_prefix`, which are
taken from what :func:`encode_entry` writes when this module is imported, so they cannot drift from it.

Python's JSON codec recurses once per nesting level and fails at its recursion limit, which depends on how
deep the caller's stack already is. New values are bounded far below it
(:data:`~aixgo.session.core.records.MAX_JSON_DEPTH`), but a value stored before that bound may be nested
up to ~990 levels: :func:`loads` and :func:`dumps` then retry on a fresh thread, whose stack is empty, so
whatever Python could ever write, it reads back wherever it is called from.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from aixgo.session.types import Checkpoint, Entry, EntryType

A = TypeVar("A")
R = TypeVar("R")

FORMAT_VERSION = 1
"""Version of the stored record format. Readers refuse data with a higher version."""

ROOT_HASH = b"\x00" * 32
"""The chain hash of the empty history."""

ROOT_HEX = ROOT_HASH.hex()
""":data:`ROOT_HASH` as stored (hex)."""

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_decode = json.JSONDecoder(parse_constant=_refuse_constant).decode


def dumps(obj: Any) -> str:
    """Compact, deterministic JSON (key order preserved). Raises ``ValueError`` for NaN/Infinity or a
    value nested too deeply for Python, and ``TypeError`` for values JSON cannot hold."""
    try:
        return _dumps(obj)
    except RecursionError:
        return on_fresh_stack(_dumps, obj)


def loads(raw: str | bytes) -> Any:
    """Strict JSON decoding: ``ValueError`` for invalid JSON, ``NaN``, ``Infinity``, bad UTF-8, or
    nesting too deep for Python to read at all."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        return _decode(text)
    except RecursionError:
        return on_fresh_stack(_decode, text)


def on_fresh_stack(fn: Callable[[A], R], arg: A) -> R:
    """``fn(arg)`` on a new thread, whose stack is empty: the way to encode or decode a deeply nested value
    (a recursive codec) wherever the caller is. Still too deep there: ``ValueError``."""
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, fn(arg)))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name="aixgo-deep-json", daemon=True)
    thread.start()
    thread.join()
    done, value = outcome[0]
    if done:
        return cast("R", value)
    if isinstance(value, RecursionError):
        raise ValueError(f"JSON nested deeper than Python can handle ({sys.getrecursionlimit()} levels)") from None
    raise value


def format_ts(ts: datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z`` suffix (``2026-11-25T04:51:11.000123Z``)."""
    t = ts.astimezone(UTC)  # %-formatting: a third of strftime's time, on every record written
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond
    )


def parse_ts(text: object) -> datetime:
    """Parse a timestamp written by :func:`format_ts`; ``ValueError`` unless it is a timezone-aware ISO string."""
    if not isinstance(text, str):
        raise ValueError(f"a timestamp must be a string, got {type(text).__name__}")
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no timezone")
    return ts


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


def checkpoint_record(cp: Checkpoint) -> dict[str, Any]:
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


def restore_record(cp: Checkpoint, ts: datetime) -> dict[str, Any]:
    """The record of a restore to ``cp``: the head moves back to the checkpoint's entry."""
    return {"k": "r", "checkpoint_id": cp.id, "entry_id": cp.entry_id, "seq": cp.seq, "ts": format_ts(ts)}


def head_record(entry_id: str | None, seq: int, ts: datetime) -> dict[str, Any]:
    """The record of a head move written by an import (to lay out branches, and the final head)."""
    return {"k": "h", "entry_id": entry_id, "seq": seq, "ts": format_ts(ts)}


# -- records once decoded: what every reader asks of one ------------------------------------------


def kind_of(rec: dict[str, Any]) -> object:
    """A decoded record's kind: ``"s"``, ``"e"``, ``"c"``, ``"r"``, ``"h"`` (or ``"end"`` in an export)."""
    return rec.get("k")


def moved_to(rec: dict[str, Any]) -> tuple[object, object]:
    """The entry id and seq at which a head-moving record leaves the head: an entry, itself; a restore
    or head move, the entry it names (unchecked: the record's own check comes when it is applied)."""
    return (rec.get("id") if rec.get("k") == "e" else rec.get("entry_id")), rec.get("seq")


# -- the bytes read without decoding: the stores' fast paths ----------------------------------------


def _entry_layout() -> tuple[bytes, bytes, bytes]:
    """What every encoded entry begins with, and the bytes before its id and its parent's id, cut out
    of a sample written by :func:`encode_entry` (so a change of the writer changes them too)."""
    sample = encode_entry(Entry("@id@", None, 1, datetime(2000, 1, 1, tzinfo=UTC), EntryType.MESSAGE, {})).encode()
    kind_end = sample.index(b"message")
    id_at = sample.index(b'"@id@"')
    parent_at = sample.index(b"null", id_at)
    return sample[:kind_end], sample[kind_end + len(b'message"') : id_at], sample[id_at + len(b'"@id@"') : parent_at]


ENTRY_START, ID_KEY, PARENT_KEY = _entry_layout()
"""``{"k":"e","type":"`` begins every entry record; ``,"id":`` follows its type, and ``,"parent_id":``
its id (each followed by a JSON string, ``null`` for the first entry's parent)."""

KIND_KEY = ENTRY_START[: ENTRY_START.index(b'"e"')]
"""``{"k":`` begins every record; the record's kind (a JSON string) follows it."""

_JSON_STRING = rb'"(?:[^"\\]|\\.)*"'
ENTRY_LINK = re.compile(
    re.escape(ENTRY_START) + rb'[a-z_]+"' + re.escape(ID_KEY) + b"(" + _JSON_STRING + b")"
    + re.escape(PARENT_KEY) + b"(null|" + _JSON_STRING + b"),"
)  # fmt: skip
"""Matches the start of an encoded entry: group 1 is its id, group 2 its parent's id (``null`` for none),
each as its canonical JSON (compare them with ``dumps(entry_id).encode()``)."""

_ID_START = b'"' + ID_KEY + b'"'


def kind_prefix(kind: str) -> bytes:
    """What every record of ``kind`` begins with (``{"k":"r"`` for a restore)."""
    return KIND_KEY + dumps(kind).encode()


def entry_type_prefix(entry_type: EntryType) -> bytes:
    """What every entry record of ``entry_type`` begins with (``{"k":"e","type":"message"``)."""
    return ENTRY_START + entry_type.value.encode() + b'"'


def entry_id_of(line: bytes) -> str | None:
    """The id of an encoded entry (``line`` begins with :data:`ENTRY_START`), read without decoding the
    record; None if it names none."""
    start = line.find(_ID_START, len(ENTRY_START)) + len(_ID_START)
    stop = line.find(b'"', start)
    raw = line[start:stop]
    if start < len(_ID_START) or stop < 0 or b"\\" in raw:  # escapes (rare): the full rule decodes them
        match = ENTRY_LINK.match(line)
        if match is None:
            return None
        try:
            decoded = loads(match.group(1))
        except ValueError:
            return None
        return decoded if isinstance(decoded, str) else None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None
