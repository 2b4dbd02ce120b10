"""Text renderings of sessions for terminals: tables, transcripts, times, and their JSON forms.

Shared by ``aixgo sessions`` and ``aixgo run`` (``/history``, ``/checkpoints``). Every function
returns a string and prints nothing. With ``color=True`` the text carries ANSI styles, which
:func:`click.echo` strips when the output is not a terminal.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click

from aixgo.session.core.codec import format_ts, on_fresh_stack, utcnow
from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo
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
) -> str:
    """The ``aixgo sessions list`` table: id, agent, user, messages, (tokens,) last update."""
    now = now or utcnow()
    rows = []
    for info in infos:
        row = [info.id, info.agent, info.user_id or "-", str(info.message_count) if info.damage is None else "DAMAGED"]
        if tokens is not None:
            row.append(f"{tokens[info.id]:,}" if info.id in tokens else "-")
        rows.append([*row, when(info.updated_at, now)])
    headers = ["ID", "AGENT", "USER", "MESSAGES", *(["TOKENS"] if tokens is not None else []), "UPDATED"]
    return render_table(headers, rows, color=color)


def format_metadata(metadata: Mapping[str, Any], width: int | None = METADATA_WIDTH) -> str:
    """``key=value, …`` (strings bare, other values as JSON), cut to ``width`` characters with ``...``."""
    if not metadata:
        return "-"
    text = ", ".join(
        f"{key}={value if isinstance(value, str) else _compact(value)}" for key, value in metadata.items()
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


def checkpoint_branch(cp: Checkpoint, history_ids: Collection[str | None], head: str | None) -> str:
    """``current (head)``, ``current`` or ``abandoned``: where ``cp`` stands relative to the history."""
    if cp.entry_id not in history_ids:
        return "abandoned"
    return "current (head)" if cp.entry_id == head else "current"


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
        for call in _tool_calls(entry.data):
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
    role, body = _speaker_and_body(entry, tool_names)
    label = role
    if color:
        label = click.style(role, fg=_ROLE_COLORS.get(role.split()[0]), bold=True)
    head = f"[{entry.seq}] {label}"
    if timestamps:
        stamp = iso_time(entry.timestamp)
        head += "  " + (click.style(stamp, dim=True) if color else stamp)
    lines = [head]
    lines.extend(INDENT + line for line in body)
    for call in _tool_calls(data):
        call_line = f"-> {call['name']}({call['arguments']})"
        if call["id"]:
            call_line += f"  [{call['id']}]"
        lines.append(INDENT + call_line)
    return "\n".join(lines)


def _speaker_and_body(entry: Entry, tool_names: Mapping[str, str]) -> tuple[str, list[str]]:
    data = entry.data
    kind = entry.type
    if kind in (EntryType.MESSAGE, EntryType.TOOL_CALL, EntryType.TOOL_RESULT):
        role = str(data.get("role") or ("tool" if kind is EntryType.TOOL_RESULT else "assistant"))
        if role == "tool":
            call_id = data.get("tool_call_id")
            name = data.get("name") or (tool_names.get(call_id) if isinstance(call_id, str) else None)
            role = "tool" + (f" {name}" if name else "") + (f" [{call_id}]" if call_id else "")
            return role, _content_lines(data.get("content")) + _output_lines(data.get("output"))
        return role, _content_lines(data.get("content"))
    if kind is EntryType.USAGE:
        parts = [f"{key}={value}" for key, value in data.items()]
        return "usage", [" ".join(parts)] if parts else []
    if kind is EntryType.ERROR:
        message = data.get("message") or data.get("error")
        rest = {k: v for k, v in data.items() if k not in ("message", "error")}
        body = _content_lines(message) if message is not None else []
        if rest:
            body.append(_compact(rest))
        return "error", body
    if kind is EntryType.SUMMARY:
        covered = f"summary of [{data.get('from_seq')}..{data.get('to_seq')}]"
        rest = {k: v for k, v in data.items() if k not in ("content", "from_seq", "to_seq")}
        body = _content_lines(data.get("content"))
        if rest:
            body.append(_compact(rest))
        return covered, body
    if kind is EntryType.APPROVAL_REQUEST:
        calls = [(c, c.get("approval")) for c in data.get("calls", []) if isinstance(c, Mapping)]
        return "approval request", [f"{'waits:' if needed else 'then: '} {_call_line(c)}"
                                    for c, needed in sorted(calls, key=lambda item: not item[1])]
    if kind is EntryType.APPROVAL_DECISION:
        status = "approved" if data.get("decision") == "approve" else "denied"
        line = f"{status} {data.get('call_id')}" + (f": {data['reason']}" if data.get("reason") else "")
        return "approval", [line + (f" (by {data['by']})" if data.get("by") else "")]
    return kind.value, [_compact(data)] if data else []


def _call_line(call: Mapping[str, Any]) -> str:
    """``name({"arg":…})  [id]`` of a call an approval request names."""
    return f"{call.get('name')}({compact_arguments(call.get('arguments', ''))})  [{call.get('id')}]"


def _output_lines(output: Any) -> list[str]:
    """What a tool result stored besides its text (``output``: an MCP server's result, a denial), one
    compact ``· `` line per kind of thing."""
    if not isinstance(output, Mapping) or not output:
        return []
    rest = dict(output)
    lines = []
    server, tool = rest.pop("server", None), rest.pop("tool", None)
    is_error, failure = rest.pop("is_error", None), rest.pop("failure", None)
    if server is not None or tool is not None:
        notes = (["error"] if is_error else []) + ([f"failure: {failure}"] if failure else [])
        lines.append(f"· mcp {server}/{tool}" + (f": {', '.join(notes)}" if notes else ""))
    if (structured := rest.pop("structured_content", None)) is not None:
        lines.append(f"· structured: {_shorter(_compact(structured))}")
    blocks = rest.pop("content", None)
    if isinstance(blocks, list) and any(_block(b) != "text" for b in blocks):
        lines.append("· blocks: " + ", ".join(_block(b) for b in blocks))
    lines.extend(f"· cut: {item}" for item in rest.pop("cut", None) or [])
    approval = rest.pop("approval", None)
    if isinstance(approval, Mapping) and approval.get("decision") == "deny":
        by = f" by {approval['by']}" if approval.get("by") else ""
        lines.append(f"· denied{by}" + (f": {approval['reason']}" if approval.get("reason") else ""))
    lines.extend(f"· {key}: {_shorter(_compact(value))}" for key, value in rest.items())
    return lines


def _block(block: Any) -> str:
    """One MCP content block, as the blocks line names it."""
    if not isinstance(block, Mapping):
        return "?"
    kind = str(block.get("type", "?"))
    if kind == "text":
        cut = block.get("truncated")
        return f"text ({cut:,} characters cut)" if isinstance(cut, int) else "text"
    if kind in ("image", "audio"):
        data = block.get("data")
        if isinstance(data, str):
            return f"{kind} {block.get('mimeType', '')} ({len(data) * 3 // 4:,} bytes)"
        size = block.get("size")
        return f"{kind} {block.get('mimeType', '')} (not stored: {size:,} bytes)" if isinstance(size, int) else kind
    if kind == "resource_link":
        return f"resource link {block.get('name', '')} <{block.get('uri', '')}>"
    if kind == "resource":
        resource = block.get("resource")
        return f"resource <{resource.get('uri', '')}>" if isinstance(resource, Mapping) else kind
    return kind


def _shorter(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """The token counts of a session's turns, summed from its ``usage`` entries."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    turns: int = 0
    last_turn: int | None = None

    def describe(self) -> str:
        """``1,234 (1,000 prompt, 234 completion, 3 turns)``."""
        turns = f"{self.turns} turn{'s' * (self.turns != 1)}"
        return (f"{self.total_tokens:,} ({self.prompt_tokens:,} prompt, {self.completion_tokens:,} completion, "
                f"{turns})")


def usage_totals(entries: Iterable[Entry]) -> UsageTotals:
    """The sums of the ``usage`` entries among ``entries`` (a session's history)."""
    usage = [entry.data for entry in entries if entry.type is EntryType.USAGE]

    def total(key: str) -> int:
        return sum(int(u.get(key) or 0) for u in usage)

    last = int(usage[-1].get("total_tokens") or 0) if usage else None
    turns = sum(1 for u in usage if not u.get("paused"))  # a turn that paused for approval has one more
    return UsageTotals(total("prompt_tokens"), total("completion_tokens"), total("total_tokens"), turns, last)


def _content_lines(content: Any) -> list[str]:
    """Message content as lines: text as is, OpenAI content parts joined, anything else as JSON."""
    if content is None:
        return []
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text":
                pieces.append(str(part.get("text", "")))
            elif isinstance(part, Mapping) and "type" in part:
                pieces.append(f"[{part['type']}]")
            else:
                pieces.append(part if isinstance(part, str) else _compact(part))
        text = "\n".join(pieces)
    elif isinstance(content, str):
        text = content
    else:
        text = _compact(content)
    return text.splitlines()


def _tool_calls(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """The tool calls of an assistant message as ``{"id", "name", "arguments"}`` (arguments compacted)."""
    calls = data.get("tool_calls")
    if not isinstance(calls, list):
        return []
    result = []
    for call in calls:
        if not isinstance(call, Mapping):
            continue
        function = call.get("function")
        function = function if isinstance(function, Mapping) else {}
        call_id = call.get("id")
        result.append(
            {
                "id": call_id if isinstance(call_id, str) else "",
                "name": str(function.get("name") or "?"),
                "arguments": compact_arguments(function.get("arguments", "")),
            }
        )
    return result


def compact_arguments(arguments: Any) -> str:
    """A call's arguments on one line: compact JSON, or the text as the model wrote it when it is not JSON."""
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):  # not JSON: show it as the model wrote it
            arguments = _compact(json.loads(arguments)) if arguments.strip() else ""
    else:
        arguments = _compact(arguments)
    return " ".join(str(arguments).split("\n"))


def _checkpoint_line(cp: Checkpoint, color: bool) -> str:
    text = f"--- checkpoint {cp.id} (seq {cp.seq})"
    if cp.metadata:
        text += ": " + format_metadata(cp.metadata, width=None)
    text += " ---"
    return click.style(text, fg="blue") if color else text


_compact_json = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"), default=str)


def _compact(value: Any) -> str:
    try:
        return _compact_json(value)
    except RecursionError:  # a value nested deeper than MAX_JSON_DEPTH, stored before that bound
        return on_fresh_stack(_compact_json, value)


# -- JSON forms --------------------------------------------------------------------------------


def to_json(value: Any) -> str:
    """Pretty JSON for machine-readable output (UTF-8, not ASCII-escaped); compact when a value in it
    is nested too deeply to indent (stored before :data:`~aixgo.session.core.records.MAX_JSON_DEPTH`)."""
    try:
        return json.dumps(value, ensure_ascii=False, indent=2, default=str)
    except RecursionError:
        return _compact(value)


__all__ = [
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
    "when",
]
