"""Compaction: folding the oldest turns (and the previous summary) into one bounded summary.

The summary is written by a model (the agent's own, or a configured ``summarizer``) from a plain
transcript of the turns, so tool calls and results need no pairing, and it replaces the previous
summary rather than nesting it: its size stays bounded by ``summary_tokens`` however long the
session grows. Turns too many for one request are folded in several, oldest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aixgo.agents.context.turns import Turn
from aixgo.session.history import message_text

SUMMARIZER_PROMPT = (
    "You maintain the memory of a conversation between a user and an AI assistant. Write a summary "
    "that replaces the earlier conversation given to you: keep every fact about the user, names, "
    "numbers, decisions, results of tools, commitments and open questions; drop greetings and "
    "repetition. If a previous summary is given, fold it in: your summary replaces it. Write plain "
    "prose or short bullet points, in the language of the conversation, at most {words} words. "
    "Answer with the summary only."
)
SUMMARY_INTRO = "Summary of the earlier conversation (the messages it replaces are not shown):"
TRUNCATED = " […truncated]"


def summary_system_text(prompt: str, summary: str | None) -> str:
    """The system message of a request: the agent's prompt, then the summary when there is one."""
    if not summary:
        return prompt
    block = f"{SUMMARY_INTRO}\n{summary}"
    return f"{prompt}\n\n{block}" if prompt else block


def transcript_line(message: Mapping[str, Any], max_chars: int) -> str:
    """One message as a transcript line (``User: …``, ``Assistant called f({…})``, ``Tool result: …``)."""
    role = str(message.get("role") or "assistant")
    text = message_text(message.get("content"))
    parts = []
    if role == "tool":
        parts.append(f"Tool result: {text}")
    else:
        if text:
            parts.append(f"{role.capitalize()}: {text}")
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {} if isinstance(call, Mapping) else {}
            parts.append(f"Assistant called {function.get('name')}({function.get('arguments')})")
    line = "\n".join(parts)
    return line if len(line) <= max_chars else line[:max_chars] + TRUNCATED


def summary_request(
    previous: str | None, turns: Sequence[Turn], *, summary_tokens: int, max_chars: int
) -> list[dict[str, Any]]:
    """The messages asking for a summary of ``previous`` plus ``turns``; one message is cut to
    ``max_chars`` characters so that a single huge turn can still be summarized."""
    words = max(30, int(summary_tokens * 0.6))
    lines = [transcript_line(m, max_chars) for turn in turns for m in turn.messages]
    body = "\n".join(lines)
    if previous:
        body = f"Previous summary:\n{previous}\n\nConversation since:\n{body}"
    else:
        body = f"Conversation:\n{body}"
    return [
        {"role": "system", "content": SUMMARIZER_PROMPT.format(words=words)},
        {"role": "user", "content": body},
    ]


def batches(turns: Sequence[Turn], limit: int) -> list[list[Turn]]:
    """``turns`` in order, grouped so that each group's tokens stay within ``limit`` (a turn larger
    than ``limit`` is a group of its own, cut when rendered)."""
    groups: list[list[Turn]] = []
    size = 0
    for turn in turns:
        if groups and size + turn.tokens <= limit:
            groups[-1].append(turn)
            size += turn.tokens
        else:
            groups.append([turn])
            size = turn.tokens
    return groups
