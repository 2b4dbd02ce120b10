"""The contract's approvals part: a turn paused for approval is a record like any other, stored by every
store, read back by any other process or node, validated by the session core, fenced by the lease.

A paused step is stored as the assistant's tool-call message followed by an ``approval_request``
entry; each decision is an ``approval_decision`` entry. What is still waiting is derived from the
history alone (:func:`aixgo.session.core.approvals.open_request`), so it survives restarts and is the
same on every node.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from aixgo.errors import InvalidEntryError, LeaseLostError
from aixgo.session import Backend, EntryType, Manager, Session
from aixgo.session.core.approvals import decision_data, request_data
from aixgo.session.history import INTERRUPTED_RESULT, WAITING_RESULT
from aixgo.session.transfer import export_lines, import_lines

MakeBackend = Callable[[], Backend]


def paused_step(sess: Session, *calls: tuple[str, str, dict[str, Any], bool]) -> str:
    """Store what a turn stores when it pauses: the user message, the assistant's tool calls, and the
    approval request naming them (``(id, name, arguments, needs approval)``). Returns the request's id."""
    user = sess.append_message("user", "commit my work")
    stored = [{"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
              for cid, name, args, _ in calls]
    sess.append_message("assistant", None, tool_calls=stored)
    request = sess.append_entry(EntryType.APPROVAL_REQUEST, request_data(
        [(cid, name, json.dumps(args), needed) for cid, name, args, needed in calls],
        turn_from_seq=user.seq, steps=1, tool_calls=0, react_format="native", content=None,
        usage={"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    ))
    return request.id


COMMIT = ("call_commit", "git_commit", {"message": "fix typo"}, True)
STATUS = ("call_status", "git_status", {}, False)
PUSH = ("call_push", "git_push", {"remote": "origin"}, True)


class ApprovalContract:
    """Mixed into :class:`~tests.session.contract.BackendContract`."""

    def test_a_paused_step_is_pending_for_another_process(self, mgr: Manager, make_backend: MakeBackend) -> None:
        sess = mgr.create("assistant", "ap-1")
        request_id = paused_step(sess, STATUS, COMMIT, PUSH)
        with Manager(make_backend()) as other:  # another process or node, started afresh
            request = other.get("ap-1").pending_approval()
        assert request is not None and request.entry_id == request_id
        assert request.turn_from_seq == 1 and request.steps == 1 and request.react_format == "native"
        assert [(c.id, c.name, c.required) for c in request.calls] == [
            ("call_status", "git_status", False), ("call_commit", "git_commit", True), ("call_push", "git_push", True)]
        assert [(a.call_id, a.status) for a in request.waiting] == [("call_commit", "pending"), ("call_push", "pending")]
        assert json.loads(request.waiting[0].arguments) == {"message": "fix typo"}

    def test_decisions_from_two_nodes_are_each_kept(self, mgr: Manager, make_backend: MakeBackend) -> None:
        sess = mgr.create("assistant", "ap-2")
        request_id = paused_step(sess, COMMIT, PUSH)
        with Manager(make_backend()) as node_a, Manager(make_backend()) as node_b:
            node_a.get("ap-2").append_entry(EntryType.APPROVAL_DECISION,
                                            decision_data(request_id, "call_commit", "approve", by="alice"))
            half = node_b.get("ap-2").pending_approval()
            assert half is not None and [a.call_id for a in half.waiting] == ["call_push"]
            assert not half.complete
            node_b.get("ap-2").append_entry(EntryType.APPROVAL_DECISION,
                                            decision_data(request_id, "call_push", "deny", reason="not on Friday"))
        request = sess.pending_approval()
        assert request is not None and request.complete and request.waiting == ()
        by_id = {a.call_id: a for a in request.approvals}
        assert (by_id["call_commit"].status, by_id["call_commit"].decided_by) == ("approved", "alice")
        assert (by_id["call_push"].status, by_id["call_push"].reason) == ("denied", "not on Friday")
        assert by_id["call_push"].decided_at is not None

    def test_the_first_decision_of_a_call_is_the_one_that_counts(self, mgr: Manager) -> None:
        sess = mgr.create("assistant", "ap-3")
        request_id = paused_step(sess, COMMIT)
        sess.append_entry(EntryType.APPROVAL_DECISION, decision_data(request_id, "call_commit", "deny", reason="no"))
        sess.append_entry(EntryType.APPROVAL_DECISION, decision_data(request_id, "call_commit", "approve"))
        request = sess.pending_approval()
        assert request is not None and request.approvals[0].status == "denied"

    def test_a_turn_that_went_on_closes_its_request(self, mgr: Manager) -> None:
        sess = mgr.create("assistant", "ap-4")
        request_id = paused_step(sess, COMMIT)
        sess.append_entry(EntryType.APPROVAL_DECISION, decision_data(request_id, "call_commit", "approve"))
        sess.append_message("tool", "committed", tool_call_id="call_commit")
        assert sess.pending_approval() is None

    def test_the_history_stays_valid_for_a_model_while_a_call_waits(self, mgr: Manager) -> None:
        sess = mgr.create("assistant", "ap-5")
        request_id = paused_step(sess, STATUS, COMMIT)
        messages = sess.get_messages()
        assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
        assert [m["content"] for m in messages[2:]] == [WAITING_RESULT, WAITING_RESULT]
        # decided, but the process that went on died before a result: it may have run
        sess.append_entry(EntryType.APPROVAL_DECISION, decision_data(request_id, "call_commit", "approve"))
        assert sess.get_messages()[3]["content"] == INTERRUPTED_RESULT

    def test_a_request_is_found_behind_many_entries(self, mgr: Manager) -> None:
        sess = mgr.create("assistant", "ap-6")
        paused_step(sess, COMMIT)
        for number in range(150):
            sess.append_entry(EntryType.METADATA, {"note": number})
        request = sess.pending_approval()
        assert request is not None and [a.call_id for a in request.waiting] == ["call_commit"]

    def test_nothing_is_pending_in_a_plain_session(self, mgr: Manager) -> None:
        sess = mgr.create("assistant", "ap-7")
        assert sess.pending_approval() is None
        sess.append_message("user", "hi")
        sess.append_message("assistant", "hello")
        sess.append_entry(EntryType.USAGE, {"total_tokens": 3})
        assert sess.pending_approval() is None

    @pytest.mark.parametrize("bad", [
        {},
        {"calls": [], "turn_from_seq": 1, "steps": 1},
        {"calls": "x", "turn_from_seq": 1, "steps": 1},
        {"calls": [{"id": "c", "name": "t", "arguments": "{}", "approval": False}], "turn_from_seq": 1, "steps": 1},
        {"calls": [{"id": "", "name": "t", "arguments": "{}", "approval": True}], "turn_from_seq": 1, "steps": 1},
        {"calls": [{"id": "c", "name": "t", "arguments": {}, "approval": True}], "turn_from_seq": 1, "steps": 1},
        {"calls": [{"id": "c", "name": "t", "arguments": "{}", "approval": "yes"}], "turn_from_seq": 1, "steps": 1},
        {"calls": [{"id": "c", "name": "t", "arguments": "{}", "approval": True}] * 2, "turn_from_seq": 1, "steps": 1},
        {"calls": [{"id": "c", "name": "t", "arguments": "{}", "approval": True}], "turn_from_seq": 0, "steps": 1},
        {"calls": [{"id": "c", "name": "t", "arguments": "{}", "approval": True}], "turn_from_seq": 1, "steps": -1},
        {"calls": [{"id": "c", "name": "t", "arguments": "{}", "approval": True}], "turn_from_seq": 1, "steps": 1,
         "format": 3},
    ], ids=["empty", "no calls", "calls not a list", "none needs approval", "empty id", "arguments not text",
            "approval not a boolean", "duplicate ids", "turn_from_seq 0", "negative steps", "format not text"])
    def test_a_malformed_request_is_refused_and_stores_nothing(self, mgr: Manager, bad: dict[str, Any]) -> None:
        sess = mgr.create("assistant", "ap-8")
        with pytest.raises(InvalidEntryError, match="approval request"):
            sess.append_entry(EntryType.APPROVAL_REQUEST, bad)
        assert sess.get_entries() == []

    @pytest.mark.parametrize("bad", [
        {"request_id": "e", "call_id": "c"},
        {"request_id": "e", "call_id": "c", "decision": "maybe"},
        {"request_id": "e", "call_id": "", "decision": "approve"},
        {"call_id": "c", "decision": "approve"},
        {"request_id": "e", "call_id": "c", "decision": "deny", "reason": 3},
        {"request_id": "e", "call_id": "c", "decision": "deny", "by": ["x"]},
    ], ids=["no decision", "unknown decision", "empty call id", "no request", "reason not text", "by not text"])
    def test_a_malformed_decision_is_refused_and_stores_nothing(self, mgr: Manager, bad: dict[str, Any]) -> None:
        sess = mgr.create("assistant", "ap-9")
        with pytest.raises(InvalidEntryError, match="approval decision"):
            sess.append_entry(EntryType.APPROVAL_DECISION, bad)
        assert sess.get_entries() == []

    def test_a_decision_through_a_lost_lease_stores_nothing(self, mgr: Manager) -> None:
        sess = mgr.create("assistant", "ap-10")
        request_id = paused_step(sess, COMMIT)
        lease = sess.lease(ttl=30, wait=0)
        lease.release()
        with pytest.raises(LeaseLostError):
            lease.session.append_entry(EntryType.APPROVAL_DECISION, decision_data(request_id, "call_commit", "approve"))
        request = sess.pending_approval()
        assert request is not None and [a.status for a in request.approvals] == ["pending"]

    def test_export_and_import_keep_what_waits(self, mgr: Manager) -> None:
        sess = mgr.create("assistant", "ap-11")
        request_id = paused_step(sess, COMMIT, PUSH)
        sess.append_entry(EntryType.APPROVAL_DECISION, decision_data(request_id, "call_push", "approve"))
        lines = export_lines(sess)
        mgr.delete("ap-11")
        copy = import_lines(mgr, lines)
        request = copy.pending_approval()
        assert request is not None and [a.call_id for a in request.waiting] == ["call_commit"]

    def test_restoring_to_before_the_call_drops_the_request(self, mgr: Manager) -> None:
        sess = mgr.create("assistant", "ap-12")
        sess.append_message("user", "hi")
        sess.append_message("assistant", "hello")
        before = sess.checkpoint()
        paused_step(sess, COMMIT)
        assert sess.pending_approval() is not None
        sess.restore(before.id)
        assert sess.pending_approval() is None

    def test_the_async_twin_reads_the_same(self, mgr: Manager) -> None:
        sess = mgr.create("assistant", "ap-13")
        paused_step(sess, COMMIT)

        async def read() -> Any:
            return await sess.apending_approval()

        request = asyncio.run(read())
        assert request is not None and request == sess.pending_approval()
