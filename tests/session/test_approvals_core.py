"""The approval rules of the session core, pure: what is still waiting, derived from entries alone."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aixgo.errors import ApprovalDecidedError, ApprovalNotFoundError
from aixgo.session import Entry, EntryType
from aixgo.session.core.approvals import (
    check_decision,
    decision_data,
    ends_search,
    open_request,
    request_data,
)
from aixgo.session.core.records import entry_from_record

_seq = itertools.count(1)
START = datetime(2026, 5, 1, tzinfo=UTC)


def entry(kind: EntryType, data: dict[str, Any], entry_id: str | None = None) -> Entry:
    seq = next(_seq)
    return Entry(entry_id or f"e{seq}", None, seq, START + timedelta(seconds=seq), kind, data)


def request(*calls: tuple[str, bool], entry_id: str = "req") -> Entry:
    data = request_data([(cid, f"tool_{cid}", "{}", needed) for cid, needed in calls], turn_from_seq=1, steps=2,
                        tool_calls=1, react_format="text", content="Let me do it.", usage={"total_tokens": 5})
    return entry(EntryType.APPROVAL_REQUEST, data, entry_id)


def decide(call_id: str, decision: str = "approve", request_id: str = "req", **more: Any) -> Entry:
    return entry(EntryType.APPROVAL_DECISION, decision_data(request_id, call_id, decision, **more))  # type: ignore[arg-type]


def test_a_request_waits_for_its_calls_that_need_approval() -> None:
    found = open_request([request(("a", True), ("b", False), ("c", True))])
    assert found is not None
    assert [a.call_id for a in found.waiting] == ["a", "c"]
    assert (found.steps, found.tool_runs, found.react_format, found.content) == (2, 1, "text", "Let me do it.")
    assert found.usage == {"total_tokens": 5}


def test_only_decisions_of_that_request_count() -> None:
    entries = [request(("a", True)), decide("a", request_id="an-older-request"), decide("zzz")]
    found = open_request(entries)
    assert found is not None and [a.status for a in found.approvals] == ["pending"]


def test_a_decision_of_a_call_that_needs_none_changes_nothing() -> None:
    found = open_request([request(("a", True), ("b", False)), decide("b", "deny")])
    assert found is not None and [c.required for c in found.calls] == [True, False]
    assert [a.call_id for a in found.approvals] == ["a"]


@pytest.mark.parametrize("after", [
    (EntryType.TOOL_RESULT, {"role": "tool", "tool_call_id": "a", "content": "done"}),
    (EntryType.MESSAGE, {"role": "user", "content": "something else"}),
    (EntryType.ERROR, {"error": "LLMUnavailableError", "turn_from_seq": 1}),
], ids=["the turn went on", "another message", "the turn failed"])
def test_a_chat_or_error_entry_after_the_request_closes_it(after: tuple[EntryType, dict[str, Any]]) -> None:
    assert open_request([request(("a", True)), entry(*after)]) is None


def test_bookkeeping_after_the_request_leaves_it_open() -> None:
    entries = [request(("a", True)), entry(EntryType.USAGE, {"total_tokens": 1}),
               entry(EntryType.METADATA, {"x": 1}), decide("a", "deny", reason="no", by="bob")]
    found = open_request(entries)
    assert found is not None and found.complete
    (approval,) = found.approvals
    assert (approval.status, approval.reason, approval.decided_by) == ("denied", "no", "bob")


def test_the_search_ends_at_a_chat_error_or_request_entry() -> None:
    assert not ends_search([entry(EntryType.USAGE, {}), entry(EntryType.METADATA, {})])
    assert ends_search([entry(EntryType.MESSAGE, {"role": "user", "content": "x"}), entry(EntryType.USAGE, {})])
    assert ends_search([request(("a", True))])


def test_check_decision_names_what_is_wrong() -> None:
    with pytest.raises(ApprovalNotFoundError, match="no tool call waiting for approval"):
        check_decision(None, "a", "s-1")
    found = open_request([request(("a", True), ("b", True)), decide("b")])
    with pytest.raises(ApprovalNotFoundError, match=r"call_x.*waiting: a"):
        check_decision(found, "call_x", "s-1")
    with pytest.raises(ApprovalDecidedError, match="already approved"):
        check_decision(found, "b", "s-1")
    assert check_decision(found, "a", "s-1").call_id == "a"


def test_records_are_checked_when_read_too() -> None:
    good = request(("a", True))
    record = {"k": "e", "id": good.id, "parent_id": None, "seq": 1, "ts": "2026-05-01T00:00:00Z",
              "type": "approval_request", "data": good.data}
    assert entry_from_record(record).data == good.data
    from aixgo.session.core.records import RecordError

    with pytest.raises(RecordError, match="approval request"):
        entry_from_record({**record, "data": {"calls": []}})
