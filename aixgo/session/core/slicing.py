"""Which part of a history a read returns: ``limit`` with the exclusive ``before`` / ``after`` cursors.

The rule is expressed as a :class:`HistoryRange`: a *window* (the first ``window`` entries of the
history, or all of it) and an inclusive index range inside it with Redis ``LRANGE`` semantics
(negative indexes count from the window's end, out-of-range ends are clamped). A store that keeps
the history as a list (file, memory) calls :func:`range_bounds`; the Redis store's ``history.lua``
(``range_bounds`` in its prelude) and the PostgreSQL store's ``history.sql`` apply the same rule to a
Redis list and to rows, tested against :func:`range_bounds` on the same inputs
(``tests/session/test_lua_rules.py``, the contract suite), so every store returns exactly the same
entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HistoryRange:
    """Entries ``start..stop`` (inclusive, ``LRANGE`` semantics) of the first ``window`` entries
    (``None``: the whole history). ``start > stop >= 0`` selects nothing."""

    window: int | None
    start: int
    stop: int


NOTHING = HistoryRange(0, 1, 0)


def check_read_args(limit: int | None, before: int | None, after: int | None) -> None:
    """Refuse arguments that can only be mistakes (``ValueError``)."""
    for name, value in (("limit", limit), ("before", before), ("after", after)):
        if value is not None and (type(value) is not int or value < 0):
            raise ValueError(f"{name} must be an integer >= 0 or None, got {value!r}")


def history_range(limit: int | None, before: int | None, after: int | None) -> HistoryRange:
    """The entries a read returns (``seq`` = index + 1).

    With ``after``, the *first* ``limit`` entries whose ``seq`` is greater than ``after`` (and less
    than ``before``); otherwise the *last* ``limit`` entries (before ``before``)."""
    check_read_args(limit, before, after)
    window = None if before is None else max(0, before - 1)
    if limit == 0 or window == 0:
        return NOTHING
    if after is not None:
        return HistoryRange(window, after, -1 if limit is None else after + limit - 1)
    return HistoryRange(window, 0 if limit is None else -limit, -1)


def range_bounds(length: int, rng: HistoryRange) -> tuple[int, int]:
    """The half-open index range ``[start, stop)`` that ``rng`` selects from a history of ``length``
    entries (``start >= stop``: nothing); index i holds ``seq`` i + 1."""
    size = length if rng.window is None else min(length, rng.window)
    start = rng.start if rng.start >= 0 else max(0, size + rng.start)
    stop = min(rng.stop if rng.stop >= 0 else size + rng.stop, size - 1)
    return start, stop + 1


def apply_range(items: list[T], rng: HistoryRange) -> list[T]:
    """The items ``rng`` selects from a history held as a list."""
    start, stop = range_bounds(len(items), rng)
    return items[start:stop] if start < stop else []
