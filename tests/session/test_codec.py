"""The core codec: the timestamps every store writes, and records applied as written vs read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aixgo.session.core.codec import (
    ENTRY_LINK,
    ENTRY_START,
    checkpoint_record,
    dumps,
    encode_entry,
    entry_id_of,
    entry_type_prefix,
    format_ts,
    head_record,
    header_record,
    kind_prefix,
    loads,
    parse_ts,
    restore_record,
    utcnow,
)
from aixgo.session.core.records import (
    RecordError,
    check_entry_data,
    entry_from_record,
    head_move_from_record,
    restore_move,
)
from aixgo.session.types import Checkpoint, Entry, EntryType

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])


@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES))
def test_timestamps_are_utc_iso_with_microseconds_and_read_back_exactly(ts: datetime) -> None:
    text = format_ts(ts)
    assert text == ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # the format stored since v1
    assert parse_ts(text) == ts


def test_a_known_timestamp() -> None:
    assert format_ts(datetime(2026, 11, 25, 4, 51, 11, 123, tzinfo=UTC)) == "2026-11-25T04:51:11.000123Z"


@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES),
       st.sampled_from([None, "e_1"]), st.integers(min_value=0, max_value=10**6))
def test_a_restore_applied_as_written_is_the_restore_read_back(ts: datetime, entry_id: str | None, seq: int) -> None:
    cp = Checkpoint(id="cp_1", session_id="s1", entry_id=entry_id, seq=seq if entry_id else 0, timestamp=ts,
                    checksum="0" * 64)
    assert restore_move(cp, ts) == head_move_from_record(restore_record(cp, ts))


PAYLOADS = [
    ("message", {"role": "user", "content": "hi"}),
    ("message", {"role": "assistant", "content": None, "tool_calls": 5}),
    ("message", {"role": "", "content": "hi"}),
    ("tool_result", {"role": "tool", "content": "4"}),
    ("tool_result", {"role": "tool", "content": "4", "tool_call_id": "c1"}),
    ("summary", {"content": "they talked"}),
    ("summary", {"content": "they talked", "from_seq": 1, "to_seq": 0}),
    ("summary", {"content": "they talked", "from_seq": 1, "to_seq": 4, "turns": 2}),
    ("usage", {"prompt_tokens": 3}),
    ("metadata", {"context_window": 1000}),
]


@pytest.mark.parametrize(("kind", "data"), PAYLOADS)
def test_an_entry_read_back_is_checked_as_it_was_when_written(kind: str, data: dict[str, object]) -> None:
    """Reading (replay, Redis reads, import) takes a fast path for the common shapes; it must refuse
    exactly what appending refuses (a summary without its range was read back as valid, and then
    broke the next turn with a KeyError)."""
    record = {"k": "e", "type": kind, "id": "e1", "parent_id": None, "seq": 1,
              "ts": "2026-12-02T19:00:00.123456+00:00", "data": data}
    try:
        check_entry_data(EntryType(kind), dict(data))
    except RecordError:
        with pytest.raises(RecordError):
            entry_from_record(record)
    else:
        assert entry_from_record(record).data == data


def test_a_decoded_entry_is_an_ordinary_frozen_entry() -> None:
    import dataclasses

    from aixgo.session.types import Entry

    ts = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    data = {"role": "user", "content": "hi"}
    record = {"k": "e", "type": "message", "id": "e1", "parent_id": None, "seq": 1, "ts": ts.isoformat(), "data": data}
    decoded = entry_from_record(record)  # the fast path sets the slots directly
    built = Entry("e1", None, 1, ts, EntryType.MESSAGE, data)
    assert type(decoded) is Entry and decoded == built and repr(decoded) == repr(built)
    assert dataclasses.replace(decoded, seq=2).seq == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.seq = 5  # type: ignore[misc]


# -- the bytes read without decoding: the stores' fast paths take them from the codec ---------------

_IDS = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)


@given(_IDS, st.none() | _IDS, st.sampled_from(list(EntryType)), st.integers(min_value=1, max_value=10**9))
def test_the_fast_paths_read_what_encode_entry_writes(
    entry_id: str, parent_id: str | None, kind: EntryType, seq: int
) -> None:
    """What the file store's backward reads, its entry-id index and its listing recognise (and the Lua
    scripts, whose constants are generated from the same names) is what every entry is written as."""
    entry = Entry(entry_id, parent_id, seq, utcnow(), kind, {"id": "decoy", "parent_id": "decoy"})
    line = encode_entry(entry).encode()
    assert line.startswith(ENTRY_START) and line.startswith(entry_type_prefix(kind))
    match = ENTRY_LINK.match(line)
    assert match is not None
    assert (match.group(1), match.group(2)) == (dumps(entry_id).encode(), dumps(parent_id).encode())
    assert entry_id_of(line) == entry_id
    assert (loads(line)["id"], loads(line)["parent_id"]) == (entry_id, parent_id)


def test_every_record_begins_with_its_kind() -> None:
    ts = utcnow()
    cp = Checkpoint(id="cp_1", session_id="s1", entry_id=None, seq=0, timestamp=ts, checksum="0" * 64)
    written = {
        "s": header_record("s1", "a", None, ts, {}),
        "c": checkpoint_record(cp),
        "r": restore_record(cp, ts),
        "h": head_record(None, 0, ts),
    }
    for kind, record in written.items():
        assert dumps(record).encode().startswith(kind_prefix(kind))
    assert not dumps(written["r"]).encode().startswith(ENTRY_START)
