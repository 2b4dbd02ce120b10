"""A cache of the turns last read for each session, so a turn reads and splits only what was
appended since the one before; and what a conversation's entries say besides their turns (the
context window learned, the token counts recorded)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aixgo.agents.context.turns import Conversation, EntryCount, Turn, failed_turn_start, split_turns
from aixgo.session import Entry, EntryType, Session

CACHED_MESSAGES = 100_000
"""Messages a :class:`TurnCache` keeps, over all its sessions (least recently used go first)."""
RECORDED_COUNTS = 8
"""Usage entries, newest first, whose token counts a fresh process calibrates from."""


@dataclass(frozen=True, slots=True)
class Reading:
    """What a read of a whole conversation (back to its summary or its start) found besides the
    turns, so the next read can follow it with only the entries appended since."""

    summary: Entry | None
    window: int | None
    usage: tuple[tuple[int, int] | None, ...]
    """The counts of the latest :data:`RECORDED_COUNTS` usage entries, oldest first (None: unusable)."""


@dataclass(frozen=True, slots=True)
class _Split:
    """The turns split from the entries ``first_seq..last_seq`` (the last being ``last_id``)."""

    first_seq: int
    last_seq: int
    last_id: str
    turns: tuple[Turn, ...]
    messages: int
    reading: Reading | None = None
    """Set when the entries were the whole conversation."""


class TurnCache:
    """The turns last split for each session, so that a turn splits only what was appended since
    the one before (:func:`split_turns` over the whole history on every turn grew with it).

    The cached turns are reused only while the history read still holds the entries they were split
    from (same first ``seq``, same entry at their last ``seq``: a restore or a new summary changes
    that) and no entry appended since excludes the last turn as a whole or a turn before it (an
    ``error`` naming its ``turn_from_seq`` or an earlier one); the last turn is always split again, as it may have grown. When the
    last read was of the whole conversation, the next one reads only from the last turn on
    (:meth:`follow`). Bounded by :data:`CACHED_MESSAGES`; safe to share between threads."""

    def __init__(self, max_messages: int = CACHED_MESSAGES) -> None:
        self.max_messages = max_messages
        self._splits: OrderedDict[str, _Split] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def split(
        self,
        session_id: str,
        entries: Sequence[Entry],
        count: Callable[[Mapping[str, Any]], int] | None = None,
        count_entry: EntryCount | None = None,
        reading: Reading | None = None,
    ) -> list[Turn]:
        """:func:`split_turns` of ``entries`` (a contiguous run of a session's history, oldest first);
        ``reading``: what else a read of the whole conversation found (they were all of it)."""
        with self._lock:
            cached = self._splits.get(session_id)
        turns = _extend(cached, entries, count, count_entry) if cached is not None and entries else None
        if turns is None:
            turns = split_turns(entries, count, count_entry)
        if entries:
            self._remember(session_id, _Split(
                entries[0].seq, entries[-1].seq, entries[-1].id, tuple(turns),
                sum(len(turn.messages) for turn in turns), reading))
        return turns

    def follow(
        self,
        session: Session,
        count: Callable[[Mapping[str, Any]], int] | None = None,
        count_entry: EntryCount | None = None,
    ) -> Conversation | None:
        """The whole conversation of ``session`` read from its last cached turn on (blocking), or
        None when the cache cannot give it: none cached, the last read not whole, or what was
        appended since changes more than the last turn (a restore, a summary, an earlier turn
        failed)."""
        with self._lock:
            cached = self._splits.get(session.id)
        if cached is None or cached.reading is None or not cached.turns:
            return None
        last = cached.turns[-1]
        entries = session.get_entries(after=last.first_seq - 1)
        at = cached.last_seq - last.first_seq
        if at >= len(entries) or entries[0].seq != last.first_seq or entries[at].id != cached.last_id:
            return None
        reading = cached.reading
        window, usage = reading.window, reading.usage
        for entry in entries[at + 1 :]:
            kind = entry.type
            if kind is EntryType.SUMMARY:
                return None
            if _fails_turn_from(entry, last.first_seq):
                return None
            if kind is EntryType.METADATA:
                window = _window_of(entry) or window
            elif kind is EntryType.USAGE:
                usage = (*usage, _usage_count(entry))[-RECORDED_COUNTS:]
        tail = split_turns(entries, count, count_entry)
        turns = (*cached.turns[:-1], *tail)
        messages = cached.messages - len(last.messages) + sum(len(turn.messages) for turn in tail)
        reading = Reading(reading.summary, window, usage)
        self._remember(session.id, _Split(cached.first_seq, entries[-1].seq, entries[-1].id, turns, messages,
                                          reading))
        return Conversation(reading.summary, list(turns), None, window, known_counts(usage))

    def _remember(self, session_id: str, split: _Split) -> None:
        with self._lock:
            old = self._splits.pop(session_id, None)
            self._held -= old.messages if old is not None else 0
            if split.messages > self.max_messages:
                return
            self._splits[session_id] = split
            self._held += split.messages
            while self._held > self.max_messages:
                _, evicted = self._splits.popitem(last=False)
                self._held -= evicted.messages


def _extend(
    cached: _Split,
    entries: Sequence[Entry],
    count: Callable[[Mapping[str, Any]], int] | None,
    count_entry: EntryCount | None,
) -> list[Turn] | None:
    """The cached turns brought up to ``entries``, or None if they no longer apply."""
    at = cached.last_seq - cached.first_seq
    if not cached.turns or entries[0].seq != cached.first_seq or at >= len(entries) or entries[at].id != cached.last_id:
        return None
    tail_from = cached.turns[-1].first_seq
    if any(_fails_turn_from(entry, tail_from) for entry in entries[at + 1 :]):
        return None
    return [*cached.turns[:-1], *split_turns(entries[tail_from - cached.first_seq :], count, count_entry)]


def _fails_turn_from(entry: Entry, seq: int) -> bool:
    """Whether ``entry`` is an error that leaves out a turn starting at or before ``seq``, the first
    ``seq`` of the last cached turn. Before it, the cached turns before the last one would be wrong;
    at it, the last turn goes as a whole, and a message after it that does not open a turn (an
    assistant message) joins the turn before, which only a split from further back sees."""
    first = failed_turn_start(entry)
    return first is not None and first <= seq


def _usage_count(entry: Entry) -> tuple[int, int] | None:
    estimated, reported = entry.data.get("estimated_prompt_tokens"), entry.data.get("prompt_tokens")
    if type(estimated) is int and type(reported) is int and estimated > 0 and reported > 0:
        return estimated, reported
    return None


def usage_counts(entries: Sequence[Entry]) -> tuple[tuple[int, int] | None, ...]:
    """The counts of the latest :data:`RECORDED_COUNTS` usage entries, oldest first."""
    found: list[tuple[int, int] | None] = []
    for entry in reversed(entries):
        if entry.type is EntryType.USAGE:
            found.append(_usage_count(entry))
            if len(found) >= RECORDED_COUNTS:
                break
    found.reverse()
    return tuple(found)


def known_counts(usage: Iterable[tuple[int, int] | None]) -> list[tuple[int, int]]:
    return [counts for counts in usage if counts is not None]


def _window_of(entry: Entry) -> int | None:
    value = entry.data.get("window" if entry.type is EntryType.SUMMARY else "context_window")
    return value if type(value) is int and value > 0 else None


def learned_window(entries: Sequence[Entry]) -> int | None:
    """The latest context window recorded in ``entries`` (a summary's ``window`` or a metadata
    entry's ``context_window``)."""
    for entry in reversed(entries):
        if entry.type is EntryType.SUMMARY or entry.type is EntryType.METADATA:
            window = _window_of(entry)
            if window is not None:
                return window
    return None
