"""What a valid record is: the schema of every record kind, checked field by field.

Every store decodes what it reads through these functions, and import validates what it is given
with them, so a record one store accepts is accepted by every other, and a bad one is refused alike
with a :class:`RecordError` that says which field is wrong. Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from aixgo.errors import InvalidSessionIdError
from aixgo.session.core.codec import FORMAT_VERSION, dumps, parse_ts
from aixgo.session.ids import validate_id
from aixgo.session.types import APPROVAL_DECISIONS, CHAT_ENTRY_TYPES, Checkpoint, Entry, EntryType

_ENTRY_TYPES = {t.value: t for t in EntryType}  # a dict lookup is several times faster than EntryType()
_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_RECORD_ID_BYTES = 256
"""Entry and checkpoint ids are opaque strings of at most this many UTF-8 bytes."""
MAX_JSON_DEPTH = 100
"""The deepest a stored JSON value (entry data, session or checkpoint metadata) may be nested: ``{}`` is one
level, ``{"a": [1]}`` two (the default of Ruby's JSON ``max_nesting``). Far below what Python's recursive
JSON codec survives; checked where values enter (append, checkpoint, create, import, HTTP), never on read,
so a value stored before the bound still reads back."""
MAX_JSON_BYTES = 16 << 20
"""The largest a stored JSON value may be, as UTF-8 JSON text (16 MiB)."""
_CONTAINERS = (dict, list, tuple)


class RecordError(ValueError):
    """A record that is not valid. The message names the field and what was wrong with it."""


class NewerVersionError(RecordError):
    """A record written by a newer storage format than this aixgo understands."""

    def __init__(self, version: object) -> None:
        self.version = version
        super().__init__(
            f"format version {version!r} is newer than this aixgo supports ({FORMAT_VERSION}); upgrade aixgo"
        )


@dataclass(frozen=True, slots=True)
class Header:
    """A session's header record: who the session belongs to and when it was created."""

    id: str
    agent: str
    user_id: str | None
    created_at: datetime
    metadata: dict[str, Any]


def _field(rec: dict[str, Any], name: str, kind: str) -> Any:
    if name not in rec:
        raise RecordError(f"{kind} record has no {name!r}")
    return rec[name]


def _record_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise RecordError(f"{what} must be a non-empty string, got {value!r}")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_RECORD_ID_BYTES:
        raise RecordError(f"{what} is longer than {MAX_RECORD_ID_BYTES} bytes")
    return value


def _optional_record_id(value: object, what: str) -> str | None:
    return None if value is None else _record_id(value, what)


def _count(value: object, what: str, minimum: int) -> int:
    if type(value) is not int or value < minimum:
        raise RecordError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def _timestamp(value: object, what: str) -> datetime:
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise RecordError(f"{what} is not a timestamp ({exc})") from None


def _object(value: object, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise RecordError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def check_json(value: object, what: str) -> str:
    """``value``'s canonical JSON, if it may be stored: JSON (no NaN, no other types), at most
    :data:`MAX_JSON_DEPTH` levels deep and :data:`MAX_JSON_BYTES` large. Raises :class:`RecordError`."""
    check_depth(value, what)
    try:
        text = dumps(value)
    except (ValueError, TypeError) as exc:
        raise RecordError(f"{what} cannot be stored as JSON ({exc})") from None
    check_size(text, what)
    return text


def check_depth(value: object, what: str, limit: int | None = None) -> None:
    """Raise :class:`RecordError` if ``value`` is nested deeper than ``limit`` (:data:`MAX_JSON_DEPTH`) levels.
    Level by level, without recursion, so no depth can crash it."""
    if type(value) is dict and not any(isinstance(item, _CONTAINERS) for item in value.values()):
        return  # a flat object (most entries): one level
    limit = MAX_JSON_DEPTH if limit is None else limit
    level = [value] if isinstance(value, _CONTAINERS) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            raise RecordError(f"{what} is nested deeper than {limit} levels")
        below: list[Any] = []
        append = below.append
        for node in level:
            for item in node.values() if isinstance(node, dict) else node:
                if isinstance(item, _CONTAINERS):
                    append(item)
        level = below


def check_size(text: str, what: str) -> None:
    """Raise :class:`RecordError` if the JSON ``text`` of a value is larger than :data:`MAX_JSON_BYTES` as UTF-8."""
    if len(text) * 4 > MAX_JSON_BYTES and len(text.encode("utf-8", "surrogatepass")) > MAX_JSON_BYTES:
        raise RecordError(f"{what} is larger than {MAX_JSON_BYTES >> 20} MiB as JSON")


def check_version(value: object) -> int:
    """The record format version, if this aixgo can read it."""
    if type(value) is not int or value < 1:
        raise RecordError(f"format version must be a positive integer, got {value!r}")
    if value > FORMAT_VERSION:
        raise NewerVersionError(value)
    return value


def header_from_record(rec: object) -> Header:
    """Validate a session header record."""
    rec = _object(rec, "the session header")
    if rec.get("k") != "s":
        raise RecordError('the first record must be the session header ({"k":"s",…})')
    check_version(_field(rec, "v", "header"))
    try:
        session_id = validate_id(_field(rec, "id", "header"))
        agent = validate_id(_field(rec, "agent", "header"), "agent name")
        user_id = rec.get("user_id")
        if user_id is not None:
            validate_id(user_id, "user id")
    except InvalidSessionIdError as exc:
        raise RecordError(f"header: {exc}") from None
    metadata = rec.get("metadata")
    metadata = {} if metadata is None else _object(metadata, "header 'metadata'")
    return Header(
        id=session_id,
        agent=agent,
        user_id=user_id,
        created_at=_timestamp(_field(rec, "created_at", "header"), "header 'created_at'"),
        metadata=metadata,
    )


def check_entry_data(kind: EntryType, data: object) -> dict[str, Any]:
    """``data`` if it is a valid payload for an entry of ``kind``.

    Every payload is a JSON object; chat entries follow the OpenAI message shape (``role``,
    ``content`` a string, a list of parts or null, ``tool_calls`` a list of calls with an ``id`` and a
    ``function`` whose ``name`` and ``arguments`` are strings, ``tool_call_id`` a string), because
    they are sent to a model as they are."""
    data = _object(data, f"{kind.value} entry data")
    if kind in _CHECKED_KINDS:
        return _CHECKED_KINDS[kind](data)
    if kind not in CHAT_ENTRY_TYPES or _plain_chat(data):
        return data
    role = data.get("role")
    if not isinstance(role, str) or not role:
        raise RecordError(f"{kind.value} entry data needs a string 'role', got {role!r}")
    content = data.get("content")
    if not (content is None or isinstance(content, (str, list))):
        raise RecordError(f"message 'content' must be a string, a list or null, got {type(content).__name__}")
    calls = data.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise RecordError(f"message 'tool_calls' must be a list, got {type(calls).__name__}")
        for number, call in enumerate(calls, start=1):
            _check_tool_call(call, number)
    if role == "tool" and not isinstance(data.get("tool_call_id"), str):
        raise RecordError("a tool result needs a string 'tool_call_id'")
    return data


def _check_summary(data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data.get("content"), str):
        raise RecordError("a summary entry needs a string 'content'")
    first = _count(data.get("from_seq"), "summary 'from_seq'", 1)
    last = _count(data.get("to_seq"), "summary 'to_seq'", 1)
    if last < first:
        raise RecordError(f"summary 'to_seq' ({last}) is before its 'from_seq' ({first})")
    return data


def _check_approval_request(data: dict[str, Any]) -> dict[str, Any]:
    what = "an approval request"
    calls = data.get("calls")
    if not isinstance(calls, list) or not calls:
        raise RecordError(f"{what} needs a non-empty list 'calls'")
    seen: set[str] = set()
    for number, raw in enumerate(calls, start=1):
        call = _object(raw, f"{what}: call {number}")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id or len(call_id.encode("utf-8", "surrogatepass")) > MAX_RECORD_ID_BYTES:
            raise RecordError(f"{what}: call {number} needs a non-empty string 'id' of at most {MAX_RECORD_ID_BYTES} bytes")
        if call_id in seen:
            raise RecordError(f"{what}: call {number} repeats the id {call_id!r}")
        seen.add(call_id)
        if not isinstance(call.get("name"), str) or not call["name"]:
            raise RecordError(f"{what}: call {number} needs a non-empty string 'name'")
        if not isinstance(call.get("arguments"), str):
            raise RecordError(f"{what}: call {number} needs 'arguments' as a JSON string")
        if not isinstance(call.get("approval"), bool):
            raise RecordError(f"{what}: call {number} needs 'approval' true or false")
    if not any(call["approval"] for call in calls):
        raise RecordError(f"{what} needs at least one call with 'approval': true")
    _count(data.get("turn_from_seq"), f"{what}'s 'turn_from_seq'", 1)
    _count(data.get("steps"), f"{what}'s 'steps'", 0)
    if data.get("tool_calls") is not None:
        _count(data["tool_calls"], f"{what}'s 'tool_calls'", 0)
    for key, kind in (("format", str), ("content", str), ("usage", dict)):
        value = data.get(key)
        if value is not None and type(value) is not kind:
            raise RecordError(f"{what}'s {key!r} must be {_KIND_NAMES[kind]}, got {type(value).__name__}")
    return data


def _check_approval_decision(data: dict[str, Any]) -> dict[str, Any]:
    what = "an approval decision"
    _record_id(data.get("request_id"), f"{what}'s 'request_id'")
    _record_id(data.get("call_id"), f"{what}'s 'call_id'")
    if data.get("decision") not in APPROVAL_DECISIONS:
        raise RecordError(f"{what}'s 'decision' must be one of {', '.join(APPROVAL_DECISIONS)}, "
                          f"got {data.get('decision')!r}")
    for key in ("reason", "by"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise RecordError(f"{what}'s {key!r} must be a string, got {type(value).__name__}")
    return data


_KIND_NAMES = {str: "a string", dict: "a JSON object"}
_CHECKED_KINDS = {
    EntryType.SUMMARY: _check_summary,
    EntryType.APPROVAL_REQUEST: _check_approval_request,
    EntryType.APPROVAL_DECISION: _check_approval_decision,
}
"""Kinds whose payload has required fields, and the check of each."""


def _check_tool_call(call: object, number: int) -> None:
    what = f"tool call {number}"
    call = _object(call, what)
    if not isinstance(call.get("id"), str) or not call["id"]:
        raise RecordError(f"{what} needs a non-empty string 'id'")
    function = _object(call.get("function"), f"{what} 'function'")
    if not isinstance(function.get("name"), str):
        raise RecordError(f"{what} needs a string 'function.name'")
    if not isinstance(function.get("arguments"), str):
        raise RecordError(f"{what} needs 'function.arguments' as a JSON string")


_FAST_ID_CHARS = MAX_RECORD_ID_BYTES // 4  # so many characters are within the byte limit in any encoding


def entry_from_record(rec: object) -> Entry:
    """Validate an entry record (``{"k":"e",…}``) and build its :class:`Entry`.

    Replaying a long session decodes every entry, so the common well-formed case (a plain chat
    message, or a payload of a kind with no required fields) is checked inline; anything else,
    summaries and approvals included, takes the field-by-field path below, which says what is wrong."""
    try:
        kind = _ENTRY_TYPES[rec["type"]]  # type: ignore[index]
        entry_id, parent, seq, data, ts = rec["id"], rec["parent_id"], rec["seq"], rec["data"], rec["ts"]  # type: ignore[index]
    except (KeyError, TypeError):
        return _entry_from_record(rec)
    if (
        type(entry_id) is str
        and 0 < len(entry_id) <= _FAST_ID_CHARS
        and (parent is None or (type(parent) is str and 0 < len(parent) <= _FAST_ID_CHARS))
        and type(seq) is int
        and seq >= 1
        and type(data) is dict
        and type(ts) is str
        and (kind in _FREE_KINDS or (kind in CHAT_ENTRY_TYPES and _plain_chat(data)))
    ):
        try:
            timestamp = _from_iso(ts)
        except ValueError:
            return _entry_from_record(rec)
        if timestamp.tzinfo is not None:
            # Entry(entry_id, parent, seq, timestamp, kind, data), with its slots set directly: a frozen
            # dataclass's __init__ goes through object.__setattr__ per field, about half the cost of
            # decoding an entry when a read decodes thousands.
            entry: Entry = _make(Entry)
            _set_id(entry, entry_id)
            _set_parent(entry, parent)
            _set_seq(entry, seq)
            _set_ts(entry, timestamp)
            _set_type(entry, kind)
            _set_data(entry, data)
            return entry
    return _entry_from_record(rec)


_ENTRY_FIELDS = ("id", "parent_id", "seq", "timestamp", "type", "data")
if tuple(f.name for f in fields(Entry)) != _ENTRY_FIELDS:  # pragma: no cover - guards the setters below
    raise TypeError(f"Entry's fields changed; update the slot setters in {__name__}")
_make = object.__new__
_set_id, _set_parent, _set_seq, _set_ts, _set_type, _set_data = (Entry.__dict__[n].__set__ for n in _ENTRY_FIELDS)


_FREE_KINDS = frozenset(EntryType) - CHAT_ENTRY_TYPES - frozenset(_CHECKED_KINDS)
"""Kinds whose payload only has to be a JSON object."""
_NOT_PLAIN_ROLES = frozenset({"tool", ""})
_from_iso = datetime.fromisoformat


def _plain_chat(data: dict[str, Any]) -> bool:
    """A chat payload of the common, obviously valid shape: a role, text content, no tool fields."""
    role = data.get("role")
    return len(data) == 2 and type(role) is str and role not in _NOT_PLAIN_ROLES and type(data.get("content")) is str


def _entry_from_record(rec: object) -> Entry:
    rec = _object(rec, "an entry record")
    kind_name = _field(rec, "type", "entry")
    kind = _ENTRY_TYPES.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        raise RecordError(f"unknown entry type {kind_name!r}")
    return Entry(
        id=_record_id(_field(rec, "id", "entry"), "entry 'id'"),
        parent_id=_optional_record_id(_field(rec, "parent_id", "entry"), "entry 'parent_id'"),
        seq=_count(_field(rec, "seq", "entry"), "entry 'seq'", 1),
        timestamp=_timestamp(_field(rec, "ts", "entry"), "entry 'ts'"),
        type=kind,
        data=check_entry_data(kind, _field(rec, "data", "entry")),
    )


def checkpoint_from_record(rec: object, session_id: str) -> Checkpoint:
    """Validate a checkpoint record (``{"k":"c",…}``) and build its :class:`Checkpoint`."""
    rec = _object(rec, "a checkpoint record")
    checksum = _field(rec, "checksum", "checkpoint")
    if not isinstance(checksum, str) or not _HEX64.fullmatch(checksum):
        raise RecordError(f"checkpoint 'checksum' must be 64 lowercase hex digits, got {checksum!r}")
    metadata = rec.get("metadata")
    metadata = {} if metadata is None else _object(metadata, "checkpoint 'metadata'")
    try:
        dumps(metadata)
    except (ValueError, TypeError) as exc:  # read back: the bounds apply where values enter, not here
        raise RecordError(f"checkpoint 'metadata' cannot be stored as JSON ({exc})") from None
    return Checkpoint(
        id=_record_id(_field(rec, "id", "checkpoint"), "checkpoint 'id'"),
        session_id=session_id,
        entry_id=_optional_record_id(_field(rec, "entry_id", "checkpoint"), "checkpoint 'entry_id'"),
        seq=_count(_field(rec, "seq", "checkpoint"), "checkpoint 'seq'", 0),
        timestamp=_timestamp(_field(rec, "ts", "checkpoint"), "checkpoint 'ts'"),
        checksum=checksum,
        metadata=metadata,
    )


@dataclass(frozen=True, slots=True)
class HeadMove:
    """A restore (``"r"``, naming its checkpoint) or an import's head move (``"h"``)."""

    entry_id: str | None
    seq: int
    timestamp: datetime | None
    checkpoint_id: str | None = None


def restore_move(cp: Checkpoint, ts: datetime) -> HeadMove:
    """The head move of a restore to ``cp`` at ``ts``: what :func:`head_move_from_record` reads back
    from its record (:func:`~aixgo.session.core.codec.restore_record`), without writing and parsing it."""
    return HeadMove(entry_id=cp.entry_id, seq=cp.seq, timestamp=ts.astimezone(UTC), checkpoint_id=cp.id)


def head_move_from_record(rec: object) -> HeadMove:
    """Validate a restore (``"r"``) or head-move (``"h"``) record."""
    rec = _object(rec, "a head record")
    kind = rec.get("k")
    checkpoint_id = None
    if kind == "r":
        checkpoint_id = _record_id(_field(rec, "checkpoint_id", "restore"), "restore 'checkpoint_id'")
    ts = rec.get("ts")
    return HeadMove(
        entry_id=_optional_record_id(_field(rec, "entry_id", "head"), "head 'entry_id'"),
        seq=_count(_field(rec, "seq", "head"), "head 'seq'", 0),
        timestamp=None if ts is None and kind == "h" else _timestamp(ts, "head 'ts'"),
        checkpoint_id=checkpoint_id,
    )
