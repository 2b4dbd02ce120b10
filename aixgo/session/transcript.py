"""How a session's entries read as a transcript: the rules shared by the CLI (``aixgo sessions show``,
``aixgo run``'s ``/history``) and the web console (``GET /v1/sessions/{id}`` carries each entry's view), so
both show the same speakers, texts, tool calls and results, approvals, summaries, errors and usage.

Nothing here formats for a terminal or a page: each function returns plain values.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from aixgo.session.core.codec import on_fresh_stack
from aixgo.session.core.summary import summarize
from aixgo.session.types import Checkpoint, Entry, EntryType, SessionInfo
from aixgo.session.views import checkpoint_json, entry_json, info_json


def checkpoint_branch(cp: Checkpoint, history_ids: Collection[str | None], head: str | None) -> str:
    """``current (head)``, ``current`` or ``abandoned``: where ``cp`` stands relative to the history."""
    if cp.entry_id not in history_ids:
        return "abandoned"
    return "current (head)" if cp.entry_id == head else "current"



def speaker_and_body(entry: Entry, tool_names: Mapping[str, str]) -> tuple[str, list[str]]:
    data = entry.data
    kind = entry.type
    if kind in (EntryType.MESSAGE, EntryType.TOOL_CALL, EntryType.TOOL_RESULT):
        role = str(data.get("role") or ("tool" if kind is EntryType.TOOL_RESULT else "assistant"))
        if role == "tool":
            call_id = data.get("tool_call_id")
            name = data.get("name") or (tool_names.get(call_id) if isinstance(call_id, str) else None)
            role = "tool" + (f" {name}" if name else "") + (f" [{call_id}]" if call_id else "")
            return role, content_lines(data.get("content")) + _output_lines(data.get("output"))
        return role, content_lines(data.get("content"))
    if kind is EntryType.USAGE:
        parts = [f"{key}={value}" for key, value in data.items()]
        return "usage", [" ".join(parts)] if parts else []
    if kind is EntryType.ERROR:
        message = data.get("message") or data.get("error")
        rest = {k: v for k, v in data.items() if k not in ("message", "error")}
        body = content_lines(message) if message is not None else []
        if rest:
            body.append(compact(rest))
        return "error", body
    if kind is EntryType.SUMMARY:
        covered = f"summary of [{data.get('from_seq')}..{data.get('to_seq')}]"
        rest = {k: v for k, v in data.items() if k not in ("content", "from_seq", "to_seq")}
        body = content_lines(data.get("content"))
        if rest:
            body.append(compact(rest))
        return covered, body
    if kind is EntryType.APPROVAL_REQUEST:
        calls = [(c, c.get("approval")) for c in data.get("calls", []) if isinstance(c, Mapping)]
        return "approval request", [f"{'waits:' if needed else 'then: '} {_call_line(c)}"
                                    for c, needed in sorted(calls, key=lambda item: not item[1])]
    if kind is EntryType.APPROVAL_DECISION:
        status = "approved" if data.get("decision") == "approve" else "denied"
        line = f"{status} {data.get('call_id')}" + (f": {data['reason']}" if data.get("reason") else "")
        return "approval", [line + (f" (by {data['by']})" if data.get("by") else "")]
    return kind.value, [compact(data)] if data else []


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
        lines.append(f"· structured: {_shorter(compact(structured))}")
    blocks = rest.pop("content", None)
    if isinstance(blocks, list) and any(_block(b) != "text" for b in blocks):
        lines.append("· blocks: " + ", ".join(_block(b) for b in blocks))
    lines.extend(f"· cut: {item}" for item in rest.pop("cut", None) or [])
    approval = rest.pop("approval", None)
    if isinstance(approval, Mapping) and approval.get("decision") == "deny":
        by = f" by {approval['by']}" if approval.get("by") else ""
        lines.append(f"· denied{by}" + (f": {approval['reason']}" if approval.get("reason") else ""))
    lines.extend(f"· {key}: {_shorter(compact(value))}" for key, value in rest.items())
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


def content_lines(content: Any) -> list[str]:
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
                pieces.append(part if isinstance(part, str) else compact(part))
        text = "\n".join(pieces)
    elif isinstance(content, str):
        text = content
    else:
        text = compact(content)
    return text.splitlines()


def tool_calls(data: Mapping[str, Any]) -> list[dict[str, str]]:
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
            arguments = compact(json.loads(arguments)) if arguments.strip() else ""
    else:
        arguments = compact(arguments)
    return " ".join(str(arguments).split("\n"))



_compact_json = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"), default=str)


def compact(value: Any) -> str:
    try:
        return _compact_json(value)
    except RecursionError:  # a value nested deeper than MAX_JSON_DEPTH, stored before that bound
        return on_fresh_stack(_compact_json, value)


def entry_view(entry: Entry, tool_names: dict[str, str]) -> dict[str, Any]:
    """What a transcript shows of ``entry``: ``speaker`` (``user``, ``assistant``, ``tool NAME [id]``,
    ``summary of [1..9]``, ``error``, ``usage`` …), its ``text`` and its ``tool_calls`` (id, name, compacted
    arguments). ``tool_names`` maps call ids to tool names, filled as the transcript is read in order."""
    calls = tool_calls(entry.data)
    for call in calls:
        if call["id"]:
            tool_names[call["id"]] = call["name"]
    speaker, body = speaker_and_body(entry, tool_names)
    return {"speaker": speaker, "text": "\n".join(body), "tool_calls": calls}


def transcript_json(
    info: SessionInfo, history: Sequence[Entry], shown: Sequence[Entry], checkpoints: Sequence[Checkpoint]
) -> dict[str, Any]:
    """A session as the web console shows it: its summary (with title and tokens), the entries ``shown``
    (its ``history``, or every entry with the abandoned ones marked), each with its view (speaker, text,
    tool calls: :func:`~aixgo.session.transcript.entry_view`), its checkpoints (with their branch) and the
    usage of its turns."""
    summary = summarize(history)
    current = {entry.id for entry in history}
    head = history[-1].id if history else None
    tool_names: dict[str, str] = {}
    entries = []
    for entry in shown:
        item = entry_json(entry) | {"view": entry_view(entry, tool_names)}
        if entry.id not in current:
            item["abandoned"] = True
        entries.append(item)
    ids: set[str | None] = {None, *current}
    return {
        "session": info_json(replace(info, title=summary.title, tokens=summary.tokens)),
        "entries": entries,
        "checkpoints": [checkpoint_json(cp, checkpoint_branch(cp, ids, head)) for cp in checkpoints],
        "usage": asdict(usage_totals(history)),
    }


__all__ = ["UsageTotals", "checkpoint_branch", "compact", "compact_arguments", "content_lines", "entry_view",
           "speaker_and_body", "tool_calls", "transcript_json", "usage_totals"]
