"""``aixgo sessions show`` (and ``/history``) show what a tool result stored besides the text the model
read (an MCP server's structured content, resource links, images, what was cut, why a call failed, a
denial), and approval requests and decisions: compactly, one line each."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from aixgo.cli.render import render_transcript
from aixgo.session import EntryType, FileBackend, Manager
from aixgo.session.core.approvals import decision_data, request_data
from aixgo.session.types import Entry

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def entry(seq: int, kind: EntryType, data: dict[str, object]) -> Entry:
    return Entry(f"e{seq}", None, seq, NOW, kind, data)


def test_a_tool_results_output_is_shown_under_its_text() -> None:
    output = {
        "server": "time", "tool": "get_current_time", "is_error": False,
        "content": [
            {"type": "text", "text": "it is noon", "truncated": 49000},
            {"type": "image", "mimeType": "image/png", "size": 900000, "omitted": "larger than max_image_bytes"},
            {"type": "resource_link", "uri": "file:///notes/a.md", "name": "a.md"},
            {"type": "resource", "resource": {"uri": "file:///b.txt", "text": "b"}},
        ],
        "structured_content": {"timezone": "Asia/Tokyo", "hour": 12},
        "cut": ["block 0 (text): 49,000 of 49,010 characters cut",
                "block 1 (image, image/png): 900,000 bytes, more than max_image_bytes (262,144): not stored"],
    }
    text = render_transcript([entry(1, EntryType.TOOL_RESULT, {"role": "tool", "tool_call_id": "c1",
                                                                "content": "it is noon", "output": output})],
                             timestamps=False)
    assert text.splitlines() == [
        "[1] tool [c1]",
        "    it is noon",
        "    · mcp time/get_current_time",
        '    · structured: {"timezone":"Asia/Tokyo","hour":12}',
        "    · blocks: text (49,000 characters cut), image image/png (not stored: 900,000 bytes), "
        "resource link a.md <file:///notes/a.md>, resource <file:///b.txt>",
        "    · cut: block 0 (text): 49,000 of 49,010 characters cut",
        "    · cut: block 1 (image, image/png): 900,000 bytes, more than max_image_bytes (262,144): not stored",
    ]


def test_a_failure_an_error_and_a_denial_are_shown() -> None:
    entries = [
        entry(1, EntryType.TOOL_RESULT, {"role": "tool", "tool_call_id": "c1", "content": "Error: timed out",
                                         "output": {"server": "notes", "tool": "search", "is_error": True,
                                                    "failure": "timeout"}}),
        entry(2, EntryType.TOOL_RESULT, {"role": "tool", "tool_call_id": "c2", "content": "Error: a person denied",
                                         "output": {"approval": {"decision": "deny", "reason": "not now",
                                                                 "by": "alice"}}}),
        entry(3, EntryType.TOOL_RESULT, {"role": "tool", "tool_call_id": "c3", "content": "x",
                                         "output": {"custom": [1, 2]}}),
    ]
    lines = render_transcript(entries, timestamps=False).splitlines()
    assert lines[2] == "    · mcp notes/search: error, failure: timeout"
    assert lines[5] == "    · denied by alice: not now"
    assert lines[8] == "    · custom: [1,2]"


def test_approval_requests_and_decisions_are_shown() -> None:
    request = request_data([("c1", "look", '{"topic": "a"}', False), ("c2", "record", '{"label": "b"}', True)],
                           turn_from_seq=1, steps=1, tool_calls=0, react_format="native", content=None, usage={})
    entries = [entry(1, EntryType.APPROVAL_REQUEST, request),
               entry(2, EntryType.APPROVAL_DECISION, decision_data("e1", "c2", "approve", by="alice")),
               entry(3, EntryType.APPROVAL_DECISION, decision_data("e1", "c9", "deny", reason="no"))]
    assert render_transcript(entries, timestamps=False).splitlines() == [
        "[1] approval request",
        '    waits: record({"label":"b"})  [c2]',
        '    then:  look({"topic":"a"})  [c1]',
        "[2] approval",
        "    approved c2 (by alice)",
        "[3] approval",
        "    denied c9: no",
    ]


def test_sessions_show_ends_with_what_waits(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path / "store")) as manager:
        session = manager.create("bot", "s1")
        session.append_message("user", "record b")
        session.append_message("assistant", None, tool_calls=[
            {"id": "c2", "type": "function", "function": {"name": "record", "arguments": '{"label": "b"}'}}])
        session.append_entry(EntryType.APPROVAL_REQUEST, request_data(
            [("c2", "record", '{"label": "b"}', True)], turn_from_seq=1, steps=1, tool_calls=0,
            react_format="native", content=None, usage={}))
    done = subprocess.run([sys.executable, "-m", "aixgo", "sessions", "--base-dir", str(tmp_path / "store"),
                           "show", "s1"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().splitlines()[-1] == 'waiting for approval: record({"label":"b"}) [c2]'
    as_json = subprocess.run([sys.executable, "-m", "aixgo", "sessions", "--base-dir", str(tmp_path / "store"),
                              "show", "s1", "--json"], capture_output=True, text=True, timeout=60, check=False)
    (waiting,) = json.loads(as_json.stdout)["approvals"]
    assert (waiting["call_id"], waiting["status"], waiting["name"]) == ("c2", "pending", "record")
