"""What a session's history looks like to the next request: the latest summary, then whole turns.

The history is read as whole turns (see :mod:`aixgo.agents.context.turns`). Read from the stored
entries:

* the latest ``summary`` entry of the current history stands for the entries it covers
  (``from_seq..to_seq``); only the turns after them are read and sent;
* a turn that ended without an answer (its ``error`` entry names the turn's first ``seq`` in
  ``turn_from_seq``) stays stored but is not sent again;
* the context window learned from a server for this session (``window`` of the summary, or a
  ``metadata`` entry's ``context_window``) is picked up on the way.

Reading goes backwards in growing pages and stops at the summary, at the start of the session, or,
when a token budget is given, once the turns read fill it (older turns could not be sent anyway).
With no budget, a :class:`~aixgo.agents.context.turn_cache.TurnCache` that holds the conversation
read last time is followed instead: only the entries appended since are read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aixgo.agents.context.turn_cache import Reading, TurnCache, known_counts, learned_window, usage_counts
from aixgo.agents.context.turns import Conversation, EntryCount, Turn, split_turns, starts_turn
from aixgo.session import Entry, EntryType, Session
from aixgo.session.types import CHAT_ENTRY_TYPES

FIRST_PAGE = 128
"""Entries read by the first backwards page (then 4x per page)."""


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
        def split(kept: Sequence[Entry], reading: Reading | None) -> list[Turn]:
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
    split: Callable[[Sequence[Entry], Reading | None], list[Turn]] | None = None,
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
    window, usage = learned_window(kept), usage_counts(kept)
    if split is None:
        turns = split_turns(kept, count, count_entry)
    else:
        turns = split(kept, Reading(summary, window, usage) if unread_from is None else None)
    if unread_from is not None and turns and not starts_turn(turns[0].messages[0]):
        turns.pop(0)  # the tail of a turn that began before the entries read: it goes with the unread part
    return Conversation(summary, turns, unread_from, window, known_counts(usage))


def _enough(entries: Sequence[Entry], count: EntryCount, budget: int | None, max_messages: int | None) -> bool:
    """Whether the entries read already hold more than a request could send."""
    if budget is not None and _tokens_after(entries, count) >= budget:
        return True
    return max_messages is not None and _chat_count(entries) >= max_messages * 2 + 16


def _tokens_after(entries: Sequence[Entry], count: EntryCount) -> int:
    return sum(count(entry) for entry in entries if entry.type in CHAT_ENTRY_TYPES)


def _chat_count(entries: Sequence[Entry]) -> int:
    return sum(1 for entry in entries if entry.type in CHAT_ENTRY_TYPES)
