"""What a listing shows of a session besides its header: its title (the first user message), the tokens
its turns used, and the words a search finds it by. Written once here; a store that keeps summaries (the
file store's index) folds each entry it stores with :meth:`Summary.after`, and anyone else summarises a
history with :func:`summarize`: the same rules either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aixgo.session.types import CHAT_ENTRY_TYPES, Entry, EntryType

TITLE_CHARS = 120
"""A title is the first user message's text, whitespace collapsed, cut to this many characters."""


def message_text(content: Any) -> str:
    """The text of a chat message's ``content``: a string as is, the ``text`` parts of an OpenAI
    content list joined, "" for anything else (an image part, null)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def title_of(entry_type: EntryType, data: dict[str, Any]) -> str | None:
    """The title an entry gives a session that has none yet: a user message's text, or None."""
    if entry_type is not EntryType.MESSAGE or data.get("role") != "user":
        return None
    text = " ".join(message_text(data.get("content")).split())
    if not text:
        return None
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"


def tokens_of(entry_type: EntryType, data: dict[str, Any]) -> int:
    """The tokens a ``usage`` entry counts (0 for any other entry, or a count that is not a number)."""
    if entry_type is not EntryType.USAGE:
        return 0
    total = data.get("total_tokens")
    return total if isinstance(total, int) and not isinstance(total, bool) and total > 0 else 0


def searchable_text(entry_type: EntryType, data: dict[str, Any]) -> str:
    """The words of an entry a text search finds: chat messages' and summaries' text."""
    if entry_type in CHAT_ENTRY_TYPES or entry_type is EntryType.SUMMARY:
        return message_text(data.get("content"))
    return ""


_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The words of ``text``, case-folded: runs of letters and digits (what SQLite FTS5's ``unicode61``
    tokenizer calls tokens, so an index of words and this rule agree)."""
    return _WORD.findall(text.casefold())


def matches(search: str, texts: Iterable[str]) -> bool:
    """Whether a session whose id, agent, user and :func:`searchable_text` are ``texts`` is found by
    ``search``: every word of the search begins a word of the session (case-insensitive), so ``ada``
    finds "Ada" and "Adam", and ``s-api`` finds the id ``s-api-3``."""
    wanted = words(search)
    if not wanted:
        return True
    held = {word for text in texts for word in words(text)}
    return all(any(word.startswith(prefix) for word in held) for prefix in wanted)


@dataclass(frozen=True, slots=True)
class Summary:
    """A history's title and the tokens its turns used."""

    title: str | None = None
    tokens: int = 0

    def after(self, entry_type: EntryType, data: dict[str, Any]) -> Summary:
        """This summary once an entry is appended to the history."""
        title = self.title if self.title is not None else title_of(entry_type, data)
        tokens = self.tokens + tokens_of(entry_type, data)
        return self if (title, tokens) == (self.title, self.tokens) else Summary(title, tokens)


def summarize(history: Iterable[Entry]) -> Summary:
    """The summary of a history (a session's current entries, oldest first)."""
    summary = Summary()
    for entry in history:
        summary = summary.after(entry.type, entry.data)
    return summary


__all__ = ["TITLE_CHARS", "Summary", "matches", "message_text", "searchable_text", "summarize", "title_of",
           "tokens_of", "words"]
