"""The renderers shared by ``aixgo sessions`` and ``aixgo run``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click

from aixgo.cli.render import (
    format_metadata,
    relative_time,
    render_checkpoints,
    render_table,
    render_transcript,
    when,
)
from aixgo.session.types import Checkpoint, Entry, EntryType

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def _entry(seq: int, kind: EntryType, data: dict[str, object], entry_id: str | None = None) -> Entry:
    return Entry(
        id=entry_id or f"e{seq}",
        parent_id=f"e{seq - 1}" if seq > 1 else None,
        seq=seq,
        timestamp=NOW,
        type=kind,
        data=data,
    )


def _cp(cp_id: str, entry_id: str | None, seq: int, **metadata: object) -> Checkpoint:
    return Checkpoint(cp_id, "s", entry_id, seq, NOW, "0" * 64, dict(metadata))


def test_relative_time() -> None:
    cases = {
        timedelta(seconds=2): "just now",
        timedelta(seconds=42): "42s ago",
        timedelta(minutes=5, seconds=59): "5m ago",
        timedelta(hours=3): "3h ago",
        timedelta(days=45): "45d ago",
        timedelta(days=61): "2mo ago",
        timedelta(days=800): "2y ago",
        -timedelta(minutes=5): "in 5m",
    }
    for delta, text in cases.items():
        assert relative_time(NOW - delta, NOW) == text
    assert when(NOW - timedelta(hours=3), NOW) == "3h ago (2026-05-01T09:00:00Z)"


def test_table_alignment_and_color() -> None:
    text = render_table(["A", "LONGER"], [["wide value", "x"], ["y", ""]])
    assert text.splitlines() == ["A           LONGER", "wide value  x", "y"]
    styled = render_table(["A"], [["b"]], color=True)
    assert click.unstyle(styled) == "A\nb" and styled != "A\nb"


def test_transcript_of_a_tool_turn() -> None:
    entries = [
        _entry(1, EntryType.MESSAGE, {"role": "user", "content": "weather?"}),
        _entry(
            2,
            EntryType.TOOL_CALL,
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                    },
                    {"id": "c2", "type": "function", "function": {"name": "clock", "arguments": "not json"}},
                    {"type": "function", "function": {"name": "noid", "arguments": {"a": 1}}},
                ],
            },
        ),
        _entry(3, EntryType.TOOL_RESULT, {"role": "tool", "tool_call_id": "c1", "content": "-3"}),
        _entry(4, EntryType.TOOL_RESULT, {"role": "tool", "tool_call_id": "zz", "content": ""}),
        _entry(
            5,
            EntryType.MESSAGE,
            {"role": "assistant", "content": [{"type": "text", "text": "Cold."}, {"type": "image_url"}]},
        ),
    ]
    text = render_transcript(
        entries, [_cp("cp0", None, 0), _cp("cp3", "e3", 3, note="after\ntool")], timestamps=False
    )
    assert text.splitlines() == [
        "--- checkpoint cp0 (seq 0) ---",
        "[1] user",
        "    weather?",
        "[2] assistant",
        "    Checking.",
        '    -> weather({"city":"Oslo"})  [c1]',
        "    -> clock(not json)  [c2]",
        '    -> noid({"a":1})',
        "[3] tool weather [c1]",
        "    -3",
        "--- checkpoint cp3 (seq 3): note=after tool ---",
        "[4] tool [zz]",
        "[5] assistant",
        "    Cold.",
        "    [image_url]",
    ]
    assert "2026-05-01T12:00:00Z" in render_transcript(entries[:1])
    assert render_transcript([]) == ""
    colored = render_transcript(entries, color=True)
    assert click.unstyle(colored) == render_transcript(entries) and colored != click.unstyle(colored)


def test_transcript_of_other_entry_types() -> None:
    entries = [
        _entry(1, EntryType.ERROR, {"message": "model timed out", "attempts": 3}),
        _entry(2, EntryType.METADATA, {"title": "t"}),
        _entry(3, EntryType.CHECKPOINT, {}),
        _entry(4, EntryType.USAGE, {"total_tokens": 9}),
        _entry(5, EntryType.MESSAGE, {"role": "user", "content": {"odd": True}}),
    ]
    assert render_transcript(entries, timestamps=False).splitlines() == [
        "[1] error",
        "    model timed out",
        '    {"attempts":3}',
        "[2] metadata",
        '    {"title":"t"}',
        "[3] checkpoint",
        "[4] usage",
        "    total_tokens=9",
        "[5] user",
        '    {"odd":true}',
    ]


def test_checkpoints_table_and_metadata() -> None:
    history = [
        _entry(1, EntryType.MESSAGE, {"role": "user", "content": "x"}),
        _entry(2, EntryType.MESSAGE, {}),
    ]
    cps = [_cp("a", None, 0), _cp("b", "e1", 1, reason="r"), _cp("c", "e2", 2), _cp("d", "gone", 3, n=1)]
    rows = render_checkpoints(cps, history, NOW).splitlines()
    assert rows[0].split() == ["ID", "SEQ", "CREATED", "BRANCH", "METADATA"]
    assert [r.split("  ")[0] for r in rows[1:]] == ["a", "b", "c", "d"]
    assert "current (head)" in rows[3] and "abandoned" in rows[4] and rows[4].endswith("n=1")
    assert "BRANCH" not in render_checkpoints(cps, now=NOW)
    long = format_metadata({"note": "x" * 100, "n": [1, 2]})
    assert len(long) == 60 and long.endswith("...")
    assert format_metadata({"n": [1, 2], "s": "a b"}) == "n=[1,2], s=a b"
    assert format_metadata({}) == "-"
    assert json.loads(json.dumps(format_metadata({"k": None}))) == "k=null"
