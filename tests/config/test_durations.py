"""parse_duration / format_duration, and that the schema's pattern accepts exactly what the parser does."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aixgo.config import format_duration, parse_duration
from aixgo.config.durations import DURATION_PATTERN

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("30d", timedelta(days=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m 15s", timedelta(hours=1, minutes=30, seconds=15)),
        ("1.5h", timedelta(minutes=90)),
        (".5s", timedelta(milliseconds=500)),
        ("  45  ", timedelta(seconds=45)),
        ("0", timedelta(0)),
        (30, timedelta(seconds=30)),
        (0.25, timedelta(milliseconds=250)),
    ],
)
def test_parse_duration_accepts(text: str | float, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "expected a number of seconds"),
        ("abc", "expected a number of seconds"),
        ("5 minutes", "units: ms, s, m, h, d"),
        ("5M", "units: ms, s, m, h, d"),
        ("-5s", "cannot be negative"),
        (-1, "cannot be negative"),
        (float("nan"), "expected a number of seconds"),
        (float("inf"), "too large"),
        ("99999999999999d", "too large"),
        (True, "expected a number of seconds"),
        ("1h30", "expected a number of seconds"),
    ],
)
def test_parse_duration_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["250ms", "1h30m", "30d", "0s", "1d2h3m4s5ms"])
def test_format_duration_round_trips(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


def test_schema_pattern_is_the_parser_pattern() -> None:
    schema = json.loads((ROOT / "schemas" / "aixgo.schema.json").read_text())
    assert schema["$defs"]["duration"]["anyOf"][1]["pattern"] == DURATION_PATTERN


@given(st.text(alphabet="0123456789.mshd -x", max_size=12))
def test_pattern_and_parser_agree(text: str) -> None:
    matches = re.match(DURATION_PATTERN, text) is not None
    try:
        parse_duration(text)
        parsed = True
    except ValueError as exc:
        parsed = "too large" in str(exc)  # well-formed, just beyond timedelta's range
    assert matches == parsed, text


@given(st.integers(min_value=0, max_value=10**9))
def test_whole_milliseconds_round_trip(ms: int) -> None:
    value = timedelta(milliseconds=ms)
    assert parse_duration(format_duration(value)) == value
