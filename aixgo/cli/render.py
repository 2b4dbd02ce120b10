"""Text renderings of sessions for terminals: tables, transcripts, times, and their JSON forms.

Shared by ``aixgo sessions`` and ``aixgo run`` (``/history``, ``/checkpoints``). Every function
returns a string and prints nothing. With ``color=True`` the text carries ANSI styles, which
:func:`click.echo` strips when the output is not a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import click

from aixgo.session.core.codec import format_ts, utcnow
from aixgo.session.transcript import (
    UsageTotals,
    checkpoint_branch,
    compact,
    compact_arguments,
    speaker_and_body,
    tool_calls,
    usage_totals,
)
from aixgo.session.types import Checkpoint, Entry, SessionInfo
from aixgo.session.views import checkpoint_json, entry_json, info_json

INDENT = "    "
METADATA_WIDTH = 60


# -- times -------------------------------------------------------------------------------------


def iso_time(ts: datetime) -> str:
    """``ts`` in UTC to the second, like ``2026-05-01T10:00:00Z``."""
    return format_ts(ts)[:19] + "Z"


def relative_time(ts: datetime, now: datetime | None = None) -> str:
    """How long ago ``ts`` was, compactly: ``just now``, ``42s ago``, ``5m ago``, ``3h ago``, ``45d ago``,
    ``4mo ago`` (from 60 days), ``2y ago`` (from 365 days); ``in 5m`` for a time in the future (clock skew).
    """
    seconds = ((now or utcnow()) - ts).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 5:
        return "just now"
    days = seconds / 86_400
    if days >= 365:
        amount = f"{int(days // 365)}y"
    elif days >= 60:
        amount = f"{int(days // 30)}mo"
    else:
        size, unit = next(
            (s, u) for s, u in ((86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")) if seconds >= s
        )
        amount = f"{int(seconds // size)}{unit}"
    return f"in {amount}" if future else f"{amount} ago"


def when(ts: datetime, now: datetime | None = None) -> str:
    """Relative and absolute: ``3h ago (2026-05-01T10:00:00Z)``."""
    return f"{relative_time(ts, now)} ({iso_time(ts)})"


# -- tables ------------------------------------------------------------------------------------


def render_table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, color: bool = False) -> str:
    """A plain left-aligned table with a header row and two spaces between columns (no trailing blanks)."""
    body = [list(row) for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    head = line(headers)
    lines = [click.style(head, bold=True) if color else head]
    lines.extend(line(row) for row in body)
    return "\n".join(lines)


def render_sessions(
    infos: Sequence[SessionInfo],
    now: datetime | None = None,
    *,
    color: bool = False,
    tokens: Mapping[str, int] | None = None,
    width: int = 0,
) -> str:
    """The ``aixgo sessions list`` table: id, agent, user, messages, (tokens,) last update, and the title
    (the first user message, :func:`~aixgo.session.core.summary.title_of`), cut so that each line fits in
    ``width`` characters (0: not cut), though never to fewer than :data:`MIN_TITLE`."""
    now = now or utcnow()
    rows = []
    for info in infos:
        row = [info.id, info.agent, info.user_id or "-", str(info.message_count) if info.damage is None else "DAMAGED"]
        if tokens is not None:
            row.append(f"{tokens[info.id]:,}" if info.id in tokens else "-")
        rows.append([*row, when(info.updated_at, now)])
    headers = ["ID", "AGENT", "USER", "MESSAGES", *(["TOKENS"] if tokens is not None else []), "UPDATED"]
    before_title = max(len(line) for line in render_table(headers, rows).splitlines()) + 2
    room = max(MIN_TITLE, width - before_title) if width else 0
    for row, info in zip(rows, infos, strict=True):
        row.append(_cut(info.title or "-", room))
    return render_table([*headers, "TITLE"], rows, color=color)


MIN_TITLE = 20
"""Characters of a title shown however narrow the terminal."""


def _cut(text: str, room: int) -> str:
    return text if not room or len(text) <= room else text[: room - 1] + "…"


def format_metadata(metadata: Mapping[str, Any], width: int | None = METADATA_WIDTH) -> str:
    """``key=value, …`` (strings bare, other values as JSON), cut to ``width`` characters with ``...``."""
    if not metadata:
        return "-"
    text = ", ".join(
        f"{key}={value if isinstance(value, str) else compact(value)}" for key, value in metadata.items()
    )
    text = " ".join(text.split())  # no newlines inside a table cell
    if width is not None and len(text) > width:
        text = text[: width - 3] + "..."
    return text


def render_checkpoints(
    checkpoints: Sequence[Checkpoint],
    history: Sequence[Entry] | None = None,
    now: datetime | None = None,
    *,
    color: bool = False,
) -> str:
    """The checkpoints table: id, seq, creation time, metadata.

    With ``history`` (the session's current entries) a BRANCH column says whether each checkpoint
    is on the current history (``current``, ``current (head)`` for the head itself) or on an
    ``abandoned`` branch left by a restore."""
    now = now or utcnow()
    headers = ["ID", "SEQ", "CREATED"]
    ids: set[str | None] = set()
    head: str | None = None
    if history is not None:
        headers.append("BRANCH")
        ids = {None} | {e.id for e in history}
        head = history[-1].id if history else None
    headers.append("METADATA")
    rows = []
    for cp in checkpoints:
        row = [cp.id, str(cp.seq), when(cp.timestamp, now)]
        if history is not None:
            row.append(checkpoint_branch(cp, ids, head))
        row.append(format_metadata(cp.metadata))
        rows.append(row)
    return render_table(headers, rows, color=color)


# -- transcripts -------------------------------------------------------------------------------


def render_transcript(
    entries: Sequence[Entry],
    checkpoints: Sequence[Checkpoint] = (),
    *,
    color: bool = False,
    timestamps: bool = True,
    abandoned: frozenset[str] | set[str] = frozenset(),
) -> str:
    """A readable transcript of ``entries`` (a session's history, oldest first; entries whose id is in
    ``abandoned`` are marked so, for a transcript of every branch).

    Each entry shows its ``seq``, who speaks (``user``, ``assistant``, ``tool <name>`` …) and its
    content indented below; assistant tool calls show the function and its arguments, tool results
    name the call they answer. Checkpoints whose entry is among ``entries`` are marked right after
    it (one taken on an empty history, before the first entry). Returns ``""`` for no entries and
    no checkpoints::

        [1] user  2026-05-01T10:00:00Z
            What's the weather in Paris?
        [2] assistant  2026-05-01T10:00:01Z
            -> get_weather({"city":"Paris"})  [call_1]
        [3] tool get_weather [call_1]  2026-05-01T10:00:01Z
            {"temp_c":21}
        --- checkpoint cp_1a2b3c4d5e6f (seq 3): reason=after lookup ---
    """
    by_entry: dict[str | None, list[Checkpoint]] = {}
    for cp in checkpoints:
        by_entry.setdefault(cp.entry_id, []).append(cp)
    tool_names: dict[str, str] = {}
    blocks: list[str] = [_checkpoint_line(cp, color) for cp in by_entry.get(None, [])]
    for entry in entries:
        for call in tool_calls(entry.data):
            if call["id"]:
                tool_names[call["id"]] = call["name"]
        block = _render_entry(entry, tool_names, color=color, timestamps=timestamps)
        if entry.id in abandoned:
            first, _, rest = block.partition("\n")
            mark = click.style("(abandoned branch)", dim=True) if color else "(abandoned branch)"
            block = f"{first}  {mark}" + (f"\n{rest}" if rest else "")
        blocks.append(block)
        blocks.extend(_checkpoint_line(cp, color) for cp in by_entry.get(entry.id, []))
    return "\n".join(blocks)


_ROLE_COLORS = {"user": "green", "assistant": "cyan", "system": "magenta", "tool": "yellow", "error": "red", "summary": "blue",
                "approval": "magenta"}


def _render_entry(entry: Entry, tool_names: Mapping[str, str], *, color: bool, timestamps: bool) -> str:
    data = entry.data
    role, body = speaker_and_body(entry, tool_names)
    label = role
    if color:
        label = click.style(role, fg=_ROLE_COLORS.get(role.split()[0]), bold=True)
    head = f"[{entry.seq}] {label}"
    if timestamps:
        stamp = iso_time(entry.timestamp)
        head += "  " + (click.style(stamp, dim=True) if color else stamp)
    lines = [head]
    lines.extend(INDENT + line for line in body)
    for call in tool_calls(data):
        call_line = f"-> {call['name']}({call['arguments']})"
        if call["id"]:
            call_line += f"  [{call['id']}]"
        lines.append(INDENT + call_line)
    return "\n".join(lines)


def _checkpoint_line(cp: Checkpoint, color: bool) -> str:
    text = f"--- checkpoint {cp.id} (seq {cp.seq})"
    if cp.metadata:
        text += ": " + format_metadata(cp.metadata, width=None)
    text += " ---"
    return click.style(text, fg="blue") if color else text


# -- JSON forms --------------------------------------------------------------------------------


def to_json(value: Any) -> str:
    """Pretty JSON for machine-readable output (UTF-8, not ASCII-escaped); compact when a value in it
    is nested too deeply to indent (stored before :data:`~aixgo.session.core.records.MAX_JSON_DEPTH`)."""
    try:
        return json.dumps(value, ensure_ascii=False, indent=2, default=str)
    except RecursionError:
        return compact(value)


__all__ = [
    "UsageTotals",
    "checkpoint_branch",
    "checkpoint_json",
    "compact_arguments",
    "entry_json",
    "format_metadata",
    "info_json",
    "iso_time",
    "relative_time",
    "render_checkpoints",
    "render_sessions",
    "render_table",
    "render_transcript",
    "to_json",
    "usage_totals",
    "when",
]
