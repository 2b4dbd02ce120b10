"""Turns: how a session's stored chat entries group into whole exchanges, and what a request sees.

A *turn* starts at a user message (a text-format ``Observation:`` is part of its turn, not a new
one) and holds every message up to the next turn, so a tool call is never separated from its
result. A turn that ended without an answer (its ``error`` entry names the turn's first ``seq`` in
``turn_from_seq``) stays stored but is not sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any

from aixgo.agents.text_format import OBSERVATION_PREFIX
from aixgo.session import Entry, EntryType
from aixgo.session.history import to_chat_messages, trim_messages
from aixgo.session.types import CHAT_ENTRY_TYPES


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

    @property
    def summary_text(self) -> str | None:
        """The summary's text, or None."""
        return str(self.summary.data.get("content") or "") if self.summary is not None else None

    @property
    def turn_tokens(self) -> int:
        """Tokens of all the turns."""
        return sum(map(_TOKENS, self.turns))

    def messages(self) -> list[dict[str, Any]]:
        """The turns' messages, oldest first: copies (see :func:`copy_messages`)."""
        return copy_messages(self.turns)


_MESSAGES = attrgetter("messages")
_TOKENS = attrgetter("tokens")


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


def failed_turn_start(entry: Entry) -> int | None:
    """The first ``seq`` of the turn an ``error`` entry says ended without an answer (None: not such an entry)."""
    if entry.type is not EntryType.ERROR:
        return None
    first = entry.data.get("turn_from_seq")
    return first if type(first) is int and 0 < first < entry.seq else None


def excluded_seqs(entries: Iterable[Entry]) -> list[tuple[int, int]]:
    """``(first, last)`` seq ranges of turns that ended without an answer (not to be sent again)."""
    return [(first, entry.seq - 1) for entry in entries if (first := failed_turn_start(entry)) is not None]


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
