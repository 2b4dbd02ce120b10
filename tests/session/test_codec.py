"""The core codec's timestamps: the text every store writes, and reading it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from aixgo.session.core.codec import format_ts, parse_ts

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])


@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES))
def test_timestamps_are_utc_iso_with_microseconds_and_read_back_exactly(ts: datetime) -> None:
    text = format_ts(ts)
    assert text == ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # the format stored since v1
    assert parse_ts(text) == ts


def test_a_known_timestamp() -> None:
    assert format_ts(datetime(2026, 11, 25, 4, 51, 11, 123, tzinfo=UTC)) == "2026-11-25T04:51:11.000123Z"
