"""What a session's history looks like to the next request: the latest summary, then whole turns.

A *turn* starts at a user message (a text-format ``Observation:`` is part of its turn, not a new
one) and holds every message up to the next turn, so a tool call is never separated from its
result. Read from the stored entries:

* the latest ``summary`` entry of the current history stands for the entries it covers
  (``from_seq..to_seq``); only the turns after them are read and sent;
* a turn that ended without an answer (its ``error`` entry names the turn's first ``seq`` in
  ``turn_from_seq``) stays stored but is not sent again;
* the context window learned from a server for this session (``window`` of the summary, or a
  ``metadata`` entry's ``context_window``) is picked up on the way.

Reading goes backwards in growing pages and stops at the summary, at the start of the session, or,
when a token budget is given, once the turns read fill it (older turns could not be sent anyway).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any

from aixgo.agents.text_format import OBSERVATION_PREFIX
from aixgo.session import Entry, EntryType, Session
from aixgo.session.history import to_chat_messages, trim_messages
from aixgo.session.types import CHAT_ENTRY_TYPES

FIRST_PAGE = 128
"""Entries read by the first backwards page (then 4x per page)."""
CACHED_MESSAGES = 100_000
"""Messages a :class:`TurnCache` keeps, over all its sessions (least recently used go first)."""
RECORDED_COUNTS = 8
"""Usage entries, newest first, whose token counts a fresh process calibrates from."""


@dataclass(slots=True)
class Turn:
    """Whole messages of one turn, and the ``seq`` range they were stored at."""

    messages: list[dict[str, Any]]
    first_seq: int
    last_seq: int
    tokens: int = 0


@dataclass(slots=True)
class Conversation:
    """A session's history as the next request sees it.

    ``summary`` is the latest summary entry (None: none); ``turns`` are the turns after it (after the
    start of the session when there is none), oldest first; ``unread_from``..``turns[0].first_seq - 1``
    are older turns not read because the budget was already full (``unread_from`` is None when
    everything was read); ``window`` is a context window learned for this session."""

    summary: Entry | None = None
    turns: list[Turn] = field(default_factory=list)
    unread_from: int | None = None
    window: int | None = None
    counts: list[tuple[int, int]] = field(default_factory=list)
    """``(estimated, reported)`` prompt tokens of the latest turns, from their usage entries."""
    tokens: int | None = None
    """Tokens of all ``turns`` (None: add them up)."""

    @property
    def summary_text(self) -> str | None:
        """The summary's text, or None."""
        return str(self.summary.data.get("content") or "") if self.summary is not None else None

    @property
    def covered_to(self) -> int:
        """The last ``seq`` the summary covers (0 without one)."""
        return int(self.summary.data["to_seq"]) if self.summary is not None else 0

    @property
    def turn_tokens(self) -> int:
        """Tokens of all the turns."""
        return sum(turn.tokens for turn in self.turns) if self.tokens is None else self.tokens

    def messages(self) -> list[dict[str, Any]]:
        """The turns' messages, oldest first: copies (see :func:`copy_messages`)."""
        return copy_messages(self.turns)


_MESSAGES = attrgetter("messages")


def copy_messages(turns: Iterable[Turn]) -> list[dict[str, Any]]:
    """The messages of ``turns``, oldest first, as copies: turns may be shared with a
    :class:`TurnCache`, and a request's messages are the model's to change."""
    return list(map(dict, chain.from_iterable(map(_MESSAGES, turns))))


def starts_turn(message: Mapping[str, Any]) -> bool:
    """Whether a stored message opens a new turn (a user message that is not a text-format observation)."""
    if message.get("role") != "user":
        return False
    content = message.get("content")
    return not (isinstance(content, str) and content.startswith(OBSERVATION_PREFIX))


def excluded_seqs(entries: Iterable[Entry]) -> list[tuple[int, int]]:
    """``(first, last)`` seq ranges of turns that ended without an answer (not to be sent again)."""
    ranges = []
    for entry in entries:
        if entry.type is EntryType.ERROR:
            first = entry.data.get("turn_from_seq")
            if type(first) is int and 0 < first < entry.seq:
                ranges.append((first, entry.seq - 1))
    return ranges


EntryCount = Callable[[Entry], int]


def split_turns(
    entries: Sequence[Entry],
    count: Callable[[Mapping[str, Any]], int] | None = None,
    count_entry: EntryCount | None = None,
) -> list[Turn]:
    """The chat entries of ``entries`` grouped into turns, each repaired into valid chat messages
    (see :func:`aixgo.session.to_chat_messages`), with failed turns left out. ``count`` sizes each
    turn in tokens (``count_entry``, when given, sizes a stored entry, e.g. from a cache).

    Runs on every turn over the whole history read, so the loop is kept lean."""
    skipped = excluded_seqs(entries)
    groups: list[list[Entry]] = []
    group: list[Entry] = []
    for entry in entries:
        if entry.type not in CHAT_ENTRY_TYPES:
            continue
        if skipped and any(a <= entry.seq <= b for a, b in skipped):
            continue
        if not group or starts_turn(entry.data):
            group = [entry]
            groups.append(group)
        else:
            group.append(entry)
    turns = []
    for group in groups:
        messages = to_chat_messages(group)
        if not messages:
            continue
        if count_entry is not None and len(messages) == len(group):  # nothing repaired: entry by entry
            tokens = sum(map(count_entry, group))
        else:
            tokens = sum(map(count, messages)) if count is not None else 0
        turns.append(Turn(messages, group[0].seq, group[-1].seq, tokens))
    return turns


@dataclass(frozen=True, slots=True)
class _Reading:
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
    tokens: int
    reading: _Reading | None = None
    """Set when the entries were the whole conversation."""


class TurnCache:
    """The turns last split for each session, so that a turn splits only what was appended since
    the one before (:func:`split_turns` over the whole history on every turn grew with it).

    The cached turns are reused only while the history read still holds the entries they were split
    from (same first ``seq``, same entry at their last ``seq``: a restore or a new summary changes
    that) and no entry appended since excludes a turn before the last one (an ``error`` naming an
    earlier ``turn_from_seq``); the last turn is always split again, as it may have grown. When the
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
        reading: _Reading | None = None,
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
                sum(len(turn.messages) for turn in turns), sum(turn.tokens for turn in turns), reading))
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
            if kind is EntryType.ERROR:
                first = entry.data.get("turn_from_seq")
                if type(first) is int and first < last.first_seq:
                    return None
            elif kind is EntryType.METADATA:
                window = _window_of(entry) or window
            elif kind is EntryType.USAGE:
                usage = (*usage, _usage_count(entry))[-RECORDED_COUNTS:]
        tail = split_turns(entries, count, count_entry)
        turns = (*cached.turns[:-1], *tail)
        messages = cached.messages - len(last.messages) + sum(len(turn.messages) for turn in tail)
        tokens = cached.tokens - last.tokens + sum(turn.tokens for turn in tail)
        reading = _Reading(reading.summary, window, usage)
        self._remember(session.id, _Split(cached.first_seq, entries[-1].seq, entries[-1].id, turns, messages,
                                          tokens, reading))
        return Conversation(reading.summary, list(turns), None, window, _known(usage), tokens)

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
    for entry in entries[at + 1 :]:
        if entry.type is EntryType.ERROR:
            first = entry.data.get("turn_from_seq")
            if type(first) is int and first < tail_from:
                return None
    return [*cached.turns[:-1], *split_turns(entries[tail_from - cached.first_seq :], count, count_entry)]


def _usage_count(entry: Entry) -> tuple[int, int] | None:
    estimated, reported = entry.data.get("estimated_prompt_tokens"), entry.data.get("prompt_tokens")
    if type(estimated) is int and type(reported) is int and estimated > 0 and reported > 0:
        return estimated, reported
    return None


def _usage_counts(entries: Sequence[Entry]) -> tuple[tuple[int, int] | None, ...]:
    """The counts of the latest :data:`RECORDED_COUNTS` usage entries, oldest first."""
    found: list[tuple[int, int] | None] = []
    for entry in reversed(entries):
        if entry.type is EntryType.USAGE:
            found.append(_usage_count(entry))
            if len(found) >= RECORDED_COUNTS:
                break
    found.reverse()
    return tuple(found)


def _known(usage: Iterable[tuple[int, int] | None]) -> list[tuple[int, int]]:
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


def read_conversation(
    session: Session,
    count: Callable[[Mapping[str, Any]], int],
    budget: int | None = None,
    *,
    max_messages: int | None = None,
    count_entry: EntryCount | None = None,
    cache: TurnCache | None = None,
) -> Conversation:
    """Read what the next request needs of ``session`` (blocking; see the module docstring).

    ``budget``: stop reading older turns once those read take this many tokens (None: read back to
    the summary or the start). ``max_messages``: stop once that many messages (and some slack) are
    read. With neither, a ``cache`` that holds the conversation read last time is followed instead
    (only what was appended since is read)."""
    if cache is not None and budget is None and max_messages is None:
        followed = cache.follow(session, count, count_entry)
        if followed is not None:
            return followed
    entries: list[Entry] = []
    page = FIRST_PAGE
    cursor: int | None = None
    summary: Entry | None = None
    while True:
        chunk = session.get_entries(limit=page, before=cursor)
        entries[:0] = chunk
        at_start = len(chunk) < page or chunk[0].seq == 1
        if summary is None:
            summary = next((e for e in reversed(chunk) if e.type is EntryType.SUMMARY), None)
        if summary is not None:
            covered = int(summary.data["to_seq"])
            if at_start or entries[0].seq <= covered + 1:
                break
        elif at_start or _enough(entries, count_entry or (lambda e: count(e.data)), budget, max_messages):
            break
        if not chunk:
            break
        cursor = chunk[0].seq
        page *= 4
    split = None
    if cache is not None:
        def split(kept: Sequence[Entry], reading: _Reading | None) -> list[Turn]:
            return cache.split(session.id, kept, count, count_entry, reading)
    return build_conversation(
        entries, count, summary=summary, complete=at_start, count_entry=count_entry, split=split
    )


def build_conversation(
    entries: Sequence[Entry],
    count: Callable[[Mapping[str, Any]], int],
    *,
    summary: Entry | None = None,
    complete: bool = True,
    count_entry: EntryCount | None = None,
    split: Callable[[Sequence[Entry], _Reading | None], list[Turn]] | None = None,
) -> Conversation:
    """The conversation that ``entries`` (the newest part of a history, in ``seq`` order) show.

    ``summary`` is the latest summary among them (found if None); ``complete``: whether ``entries``
    reach back to the start of the history; ``split`` groups the entries after the summary into
    turns (:func:`split_turns` unless given, e.g. a :class:`TurnCache`'s, which is also told what
    else was found when the entries are the whole conversation). The window and the recorded
    counts are read from the entries after the summary (the summary included)."""
    if summary is None:
        summary = next((e for e in reversed(entries) if e.type is EntryType.SUMMARY), None)
    covered = int(summary.data["to_seq"]) if summary is not None else 0
    kept = [e for e in entries if e.seq > covered] if covered else entries
    first_read = entries[0].seq if entries else covered + 1
    unread_from = None
    if summary is None and not complete and first_read > 1:
        unread_from = 1
    elif summary is not None and first_read > covered + 1:
        unread_from = covered + 1
    window, usage = learned_window(kept), _usage_counts(kept)
    if split is None:
        turns = split_turns(kept, count, count_entry)
    else:
        turns = split(kept, _Reading(summary, window, usage) if unread_from is None else None)
    if unread_from is not None and turns and not starts_turn(turns[0].messages[0]):
        turns.pop(0)  # the tail of a turn that began before the entries read: it goes with the unread part
    return Conversation(summary, turns, unread_from, window, _known(usage))


def _enough(entries: Sequence[Entry], count: EntryCount, budget: int | None, max_messages: int | None) -> bool:
    """Whether the entries read already hold more than a request could send."""
    if budget is not None and _tokens_after(entries, count) >= budget:
        return True
    return max_messages is not None and _chat_count(entries) >= max_messages * 2 + 16


def _tokens_after(entries: Sequence[Entry], count: EntryCount) -> int:
    return sum(count(entry) for entry in entries if entry.type in CHAT_ENTRY_TYPES)


def _chat_count(entries: Sequence[Entry]) -> int:
    return sum(1 for entry in entries if entry.type in CHAT_ENTRY_TYPES)


def limit_turns(turns: Sequence[Turn], max_messages: int, count: Callable[[Mapping[str, Any]], int]) -> list[Turn]:
    """The newest turns holding at most ``max_messages`` messages; the oldest kept turn may be cut
    (never between a tool call and its result)."""
    kept: list[Turn] = []
    room = max_messages
    for turn in reversed(turns):
        if room <= 0:
            break
        if len(turn.messages) <= room:
            kept.append(turn)
            room -= len(turn.messages)
            continue
        messages = trim_messages(turn.messages, room)
        if messages:
            kept.append(Turn(messages, turn.first_seq, turn.last_seq, sum(count(m) for m in messages)))
        break
    kept.reverse()
    return kept
