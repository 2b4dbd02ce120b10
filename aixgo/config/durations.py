"""Durations in config files and on the command line: ``250ms``, ``30s``, ``5m``, ``2h``, ``30d``, ``1h30m``.

A plain number (or a string holding only a number) means seconds. Units: ``ms`` (milliseconds),
``s`` (seconds), ``m`` (minutes), ``h`` (hours), ``d`` (days); several parts add up, in any order,
optionally separated by spaces (``1h 30m``). Negative durations are not allowed.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

#: One ``<number><unit>`` part; ``ms`` must come before ``m`` in the alternation.
_PART = r"([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(ms|s|m|h|d)"
_PART_RE = re.compile(_PART)
#: A whole duration string, as accepted by :func:`parse_duration`. The JSON Schema uses the same text.
DURATION_PATTERN = rf"^\s*(?:(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*|(?:{_PART}\s*)+)$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_NUMBER_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*$")

_EXPECTED = "a number of seconds or a duration like 250ms, 30s, 5m, 2h, 30d or 1h30m"


def parse_duration(value: str | float) -> timedelta:
    """Parse ``value`` (a duration string or a number of seconds) into a :class:`~datetime.timedelta`.

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    >>> parse_duration(2.5)
    datetime.timedelta(seconds=2, microseconds=500000)

    Raises :class:`ValueError` naming the accepted forms for anything else (negative numbers,
    unknown units, booleans, empty strings).
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: expected {_EXPECTED}")
    if isinstance(value, int | float):
        return _seconds(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}: expected {_EXPECTED}")
    number = _NUMBER_RE.match(value)
    if number:
        return _seconds(float(number.group(1)), value)
    if not _DURATION_RE.match(value):
        hint = ""
        if value.strip().startswith("-"):
            hint = " (durations cannot be negative)"
        elif re.search(r"[0-9]\s*[A-Za-z]", value):
            hint = " (units: ms, s, m, h, d)"
        raise ValueError(f"invalid duration {value!r}: expected {_EXPECTED}{hint}")
    total = sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in _PART_RE.findall(value))
    return _seconds(total, value)


def _seconds(seconds: float, original: object) -> timedelta:
    if math.isnan(seconds):
        raise ValueError(f"invalid duration {original!r}: expected {_EXPECTED}")
    if seconds < 0:
        raise ValueError(
            f"invalid duration {original!r}: expected {_EXPECTED} (durations cannot be negative)"
        )
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"invalid duration {original!r}: too large") from None


def format_duration(value: timedelta) -> str:
    """The shortest string :func:`parse_duration` reads back as ``value`` (``1h30m``, ``250ms``, ``0s``)."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        amount, total_ms = divmod(total_ms, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


__all__ = ["DURATION_PATTERN", "format_duration", "parse_duration"]
