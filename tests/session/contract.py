"""The backend contract: behaviour every session backend must show.

A backend's test module subclasses :class:`BackendContract` and provides:

* a ``make_backend`` fixture: a zero-argument callable returning a *new* backend instance over the
  same underlying store each time it is called (so "reopen" and "another process/node" can be
  simulated); the fixture closes what it made;
* :meth:`BackendContract.tamper_entry`: change the stored content of one entry behind the
  backend's back (to prove checkpoints are verified).

Nothing here may know which backend it runs on.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import aixgo.session.manager as manager_module
from aixgo.errors import (
    CheckpointNotFoundError,
    ChecksumMismatchError,
    InvalidEntryError,
    InvalidSessionIdError,
    LeaseLostError,
    SessionBusyError,
    SessionCorruptedError,
    SessionError,
    SessionExistsError,
    SessionNotFoundError,
    StoreClosedError,
)
from aixgo.session import (
    Backend,
    EntryType,
    Manager,
    Session,
    context_with_session,
    session_from_context,
    use_session,
)
from aixgo.session.core import SessionState
from aixgo.session.core.codec import utcnow
from aixgo.session.core.records import Header
from aixgo.session.core.slicing import HistoryRange, range_bounds
from aixgo.session.core.state import branch_swap
from aixgo.session.core.transfer import plan_import
from aixgo.session.history import INTERRUPTED_RESULT
from aixgo.session.transfer import aexport_lines, aimport_lines, export_lines, import_lines
from tests.session.contract_approvals import ApprovalContract
from tests.session.contract_transfer import TransferContract

MakeBackend = Callable[[], Backend]

BAD_IDS = [
    "",
    "a/b",
    "../escape",
    "..",
    "a\\b",
    "nul\x00byte",
    "new\nline",
    "tab\there",
    "esc\x1b[31m",
    ".hidden",
    " padded",
    "x" * 129,
]


def sid() -> str:
    return "s-" + uuid.uuid4().hex[:12]


def core_swap(session: Session, entry_id: str | None, seq: int) -> tuple[int, list[str]]:
    """What ``core.state.branch_swap`` says a head move to ``entry_id`` keeps and brings back, from the
    session's history and tree as the store returns them."""
    history = [e.id for e in session.get_entries()]
    everything = session.all_entries()
    parents = {e.id: e.parent_id for e in everything}
    seqs = {e.id: e.seq for e in everything}

    def abandoned(eid: str) -> bool:
        return seqs[eid] > len(history) or history[seqs[eid] - 1] != eid

    return branch_swap(entry_id, seq, abandoned, parents.__getitem__)


def build_tree(session: Session, seed: int, steps: int = 60) -> None:
    """Appends, checkpoints and restores in a random order (a tree with branches off branches, and
    restores to the root); before each restore, the core says what the history becomes, and the
    store must agree."""
    rng = random.Random(seed)
    checkpoints = [session.checkpoint()]  # one at the root
    for step in range(steps):
        roll = rng.random()
        if roll < 0.55:
            session.append_message("user", f"m{step}")
        elif roll < 0.75:
            checkpoints.append(session.checkpoint())
        else:
            cp = rng.choice(checkpoints)
            keep, branch = core_swap(session, cp.entry_id, cp.seq)
            before = [e.id for e in session.get_entries()]
            session.restore(cp.id)
            assert [e.id for e in session.get_entries()] == before[:keep] + branch, f"restore at step {step}"


class BackendContract(TransferContract, ApprovalContract):
    """Subclass with a ``make_backend`` fixture and a ``tamper_entry`` implementation."""

    def tamper_entry(self, make_backend: MakeBackend, session_id: str, entry_id: str) -> None:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------

    @pytest.fixture
    def mgr(self, make_backend: MakeBackend) -> Manager:
        return Manager(make_backend())

    def reopen(self, make_backend: MakeBackend) -> Manager:
        return Manager(make_backend())

    # -- create / get / delete ---------------------------------------------------------------

    def test_create_and_get(self, mgr: Manager) -> None:
        s = mgr.create("assistant", "user-1", user_id="u-1", metadata={"title": "t"})
        assert (s.id, s.agent_name, s.user_id) == ("user-1", "assistant", "u-1")
        again = mgr.get("user-1")
        assert again.agent_name == "assistant"
        info = again.info
        assert info.user_id == "u-1"
        assert info.metadata == {"title": "t"}
        assert info.message_count == 0
        assert info.created_at.tzinfo is not None

    def test_create_generates_unique_ids(self, mgr: Manager) -> None:
        ids = {mgr.create("assistant").id for _ in range(5)}
        assert len(ids) == 5

    def test_create_twice_raises(self, mgr: Manager) -> None:
        mgr.create("assistant", "dup")
        with pytest.raises(SessionExistsError):
            mgr.create("assistant", "dup")
        with pytest.raises(SessionExistsError):
            mgr.create("other-agent", "dup")

    def test_get_missing_raises(self, mgr: Manager) -> None:
        with pytest.raises(SessionNotFoundError) as err:
            mgr.get("missing")
        assert "missing" in str(err.value)

    def test_get_or_create_resumes(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.get_or_create("assistant", "resume-me")
        s.append_message("user", "hello")
        again = self.reopen(make_backend).get_or_create("assistant", "resume-me")
        assert [e.data["content"] for e in again.get_entries()] == ["hello"]

    def test_get_or_create_other_agents_session_raises(self, mgr: Manager) -> None:
        mgr.create("alpha", "shared-id")
        with pytest.raises(SessionExistsError, match="alpha"):
            mgr.get_or_create("beta", "shared-id")

    def test_delete(self, mgr: Manager) -> None:
        s = mgr.create("assistant", "to-delete")
        s.append_message("user", "x")
        assert mgr.delete("to-delete") is True
        with pytest.raises(SessionNotFoundError):
            mgr.get("to-delete")
        assert mgr.delete("to-delete") is False
        assert "to-delete" not in [i.id for i in mgr.list()]
        fresh = mgr.create("assistant", "to-delete")
        assert fresh.get_entries() == []

    def test_delete_seen_by_other_instance(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", "gone")
        s.append_message("user", "x")
        other = self.reopen(make_backend)
        assert other.delete("gone")
        with pytest.raises(SessionNotFoundError):
            s.append_message("user", "after delete")
        with pytest.raises(SessionNotFoundError):
            mgr.get("gone")

    @pytest.mark.parametrize("bad", BAD_IDS)
    def test_invalid_session_ids_rejected(self, mgr: Manager, bad: str) -> None:
        with pytest.raises(InvalidSessionIdError):
            mgr.create("assistant", bad)
        with pytest.raises(InvalidSessionIdError):
            mgr.get(bad)
        with pytest.raises(InvalidSessionIdError):
            mgr.get_or_create("assistant", bad)
        with pytest.raises(InvalidSessionIdError):
            mgr.delete(bad)

    @pytest.mark.parametrize("bad", BAD_IDS)
    def test_invalid_agent_names_rejected(self, mgr: Manager, bad: str) -> None:
        with pytest.raises(InvalidSessionIdError):
            mgr.create(bad, "fine")
        with pytest.raises(InvalidSessionIdError):
            mgr.get_or_create(bad, "fine")
        assert mgr.list() == []

    def test_id_length_limit(self, mgr: Manager) -> None:
        assert mgr.create("assistant", "x" * 128).id == "x" * 128

    # -- entries ------------------------------------------------------------------------------

    def test_append_assigns_gapless_seq_and_parents(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())
        entries = [s.append_entry(EntryType.MESSAGE, {"role": "user", "content": str(i)}) for i in range(10)]
        assert [e.seq for e in entries] == list(range(1, 11))
        assert entries[0].parent_id is None
        assert all(b.parent_id == a.id for a, b in itertools.pairwise(entries))
        assert all(
            e.timestamp.tzinfo is not None and e.timestamp.utcoffset() == timedelta(0) for e in entries
        )
        assert s.get_entries() == entries

    def test_entries_round_trip_unicode_and_nesting(self, mgr: Manager, make_backend: MakeBackend) -> None:
        data = {"role": "user", "content": 'héllo ✓ 你好 "quoted" \\ \n newline', "n": [1, 2.5, None, True]}
        s = mgr.create("assistant", sid())
        s.append_entry(EntryType.METADATA, {"nested": {"deep": [data]}})
        s.append_entry(EntryType.MESSAGE, data)
        got = self.reopen(make_backend).get(s.id).get_entries()
        assert got[1].data == data
        assert got[0].type is EntryType.METADATA

    def test_append_is_idempotent_on_entry_id(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid())
        first = s.append_entry(EntryType.MESSAGE, {"role": "user", "content": "a"}, entry_id="e_fixed")
        second = s.append_entry(EntryType.MESSAGE, {"role": "user", "content": "a"}, entry_id="e_fixed")
        assert first == second
        other = self.reopen(make_backend).get(s.id)
        third = other.append_entry(EntryType.MESSAGE, {"role": "user", "content": "a"}, entry_id="e_fixed")
        assert third.seq == 1
        assert len(s.get_entries()) == 1

    def test_a_retried_append_is_stored_once_at_any_distance(self, mgr: Manager, make_backend: MakeBackend) -> None:
        """Issue 21, item 1: an entry of 1.1 MB appended with entry_id 'E' by two fresh processes was
        stored twice (the file store looked for the id in the last 1 MiB only), and the session could no
        longer be read. Retried from new store instances, after megabytes of later entries, it is stored
        once, wherever it is."""
        session_id = mgr.create("assistant", sid()).id
        big = {"role": "user", "content": "x" * 1_100_000}

        def fresh() -> Session:
            return self.reopen(make_backend).get(session_id)

        first = fresh().append_entry(EntryType.MESSAGE, big, entry_id="E")
        assert fresh().append_entry(EntryType.MESSAGE, big, entry_id="E") == first
        for i in range(3):
            fresh().append_entry(EntryType.METADATA, {"pad": "y" * 1_000_000, "i": i}, entry_id=f"pad-{i}")
        later = fresh()
        for i in range(200):
            later.append_message("assistant", f"small {i}")
        assert fresh().append_entry(EntryType.MESSAGE, big, entry_id="E") == first
        assert fresh().append_entry(EntryType.METADATA, {"pad": "y", "i": 0}, entry_id="pad-0").seq == 2
        again = fresh()
        assert [e.id for e in again.all_entries()].count("E") == 1
        assert len(again.get_entries()) == 204
        assert len(list(export_lines(again))) == 204 + 3
        cp = again.checkpoint()
        again.restore(cp.id)
        assert again.append_entry(EntryType.MESSAGE, big, entry_id="E") == first

    def test_paging(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())
        for i in range(20):
            s.append_message("user", str(i))
        seqs = lambda es: [e.seq for e in es]  # noqa: E731
        assert seqs(s.get_entries(limit=5)) == [16, 17, 18, 19, 20]
        assert seqs(s.get_entries(limit=5, before=16)) == [11, 12, 13, 14, 15]
        assert seqs(s.get_entries(limit=5, after=3)) == [4, 5, 6, 7, 8]
        assert seqs(s.get_entries(after=17)) == [18, 19, 20]
        assert seqs(s.get_entries(before=3)) == [1, 2]
        assert seqs(s.get_entries(after=5, before=8)) == [6, 7]
        assert s.get_entries(limit=0) == []
        assert seqs(s.get_entries(limit=100)) == list(range(1, 21))
        assert s.get_entries(after=20) == []
        assert s.get_entries(before=1) == []

    def test_every_read_range_is_the_cores(self, mgr: Manager) -> None:
        """The store applies a HistoryRange (window, start..stop) as ``core.slicing.range_bounds`` does,
        at every edge: the Redis store in Lua, the PostgreSQL store in SQL, the others by calling it."""
        for length in (0, 5):
            s = mgr.create("assistant", sid())
            for i in range(length):
                s.append_message("user", str(i))
            full = [e.seq for e in s.get_entries()]
            for window, start, stop in itertools.product((None, 0, 1, 4, 5, 7), range(-6, 7), range(-6, 7)):
                rng = HistoryRange(window, start, stop)
                first, end = range_bounds(length, rng)
                got = [e.seq for e in mgr.backend.history(s.id, rng)]
                assert got == (full[first:end] if first < end else []), (length, rng)

    def test_restores_lay_out_the_history_the_core_says(self, mgr: Manager) -> None:
        """Random appends, checkpoints and restores (branches off abandoned branches, back to the root):
        before each restore, ``core.state.branch_swap`` says which entries stay and which come back;
        the store's history after it is exactly that."""
        s = mgr.create("assistant", sid())
        build_tree(s, seed=7, steps=40)
        assert len(s.all_entries()) > len(s.get_entries())

    def test_get_messages_is_chat_shaped_and_valid(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())
        s.append_message("user", "what is 2+2?")
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "calculator", "arguments": '{"x":"2+2"}'},
        }
        s.append_message("assistant", None, tool_calls=[call])
        s.append_entry(EntryType.USAGE, {"total_tokens": 3})
        msgs = s.get_messages()
        # the crash left the call without a result: a synthetic one keeps the history valid
        assert msgs[-1] == {"role": "tool", "tool_call_id": "call_1", "content": INTERRUPTED_RESULT}
        s.append_message("tool", "4", tool_call_id="call_1")
        s.append_message("tool", "stray", tool_call_id="call_unknown")
        s.append_message("assistant", "4")
        msgs = s.get_messages()
        assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant"]
        assert msgs[2]["content"] == "4"

    def test_non_dict_data_rejected(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())
        with pytest.raises(InvalidEntryError):
            s.append_entry(EntryType.MESSAGE, "not a dict")  # type: ignore[arg-type]
        assert s.get_entries() == []

    # -- checkpoints -----------------------------------------------------------------------------

    def test_checkpoint_and_restore(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())
        s.append_message("user", "one")
        s.append_message("assistant", "two")
        cp = s.checkpoint(metadata={"reason": "before tool run"})
        assert (cp.seq, cp.session_id, cp.metadata) == (2, s.id, {"reason": "before tool run"})
        s.append_message("user", "three")
        s.append_message("assistant", "four")
        restored = s.restore(cp.id)
        assert restored.id == cp.id
        assert [e.data["content"] for e in s.get_entries()] == ["one", "two"]
        nxt = s.append_message("user", "five")
        assert nxt.seq == 3
        assert nxt.parent_id == cp.entry_id
        assert [e.data["content"] for e in s.get_entries()] == ["one", "two", "five"]
        assert s.info.message_count == 3

    def test_restore_is_durable_across_reopen(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid())
        for word in ["a", "b", "c"]:
            s.append_message("user", word)
        cp = s.checkpoint()
        for word in ["d", "e"]:
            s.append_message("user", word)
        s.restore(cp.id)
        s.append_message("user", "f")
        mgr.close()
        reopened = self.reopen(make_backend).get(s.id)
        assert [e.data["content"] for e in reopened.get_entries()] == ["a", "b", "c", "f"]
        assert [e.seq for e in reopened.get_entries()] == [1, 2, 3, 4]
        everything = [e.data["content"] for e in reopened.all_entries()]
        assert sorted(everything) == ["a", "b", "c", "d", "e", "f"]  # the abandoned branch is kept
        assert reopened.info.message_count == 4

    def test_undo_leaves_the_last_turn_out_and_keeps_it_stored(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid())
        s.append_message("user", "first")
        s.append_message("assistant", "one")
        cp = s.checkpoint()
        s.append_message("user", "second")
        s.append_message("assistant", "two")
        s.append_entry(EntryType.USAGE, {"total_tokens": 5})
        left = s.undo()
        assert [(e.type, e.data.get("content")) for e in left] == [
            (EntryType.MESSAGE, "second"), (EntryType.MESSAGE, "two"), (EntryType.USAGE, None)]
        assert [e.data["content"] for e in s.get_entries()] == ["first", "one"]
        third = s.append_message("user", "third")
        assert (third.seq, third.parent_id) == (3, cp.entry_id)
        mgr.close()
        again = self.reopen(make_backend)
        reopened = again.get(s.id)
        assert [e.data["content"] for e in reopened.get_entries()] == ["first", "one", "third"]
        assert {"second", "two"} <= {e.data.get("content") for e in reopened.all_entries()}  # durable, kept
        assert reopened.get_info().message_count == 3
        assert reopened.restore(cp.id).id == cp.id  # checkpoints survive the undo
        assert [e.data["content"] for e in asyncio.run(reopened.aundo())] == ["first", "one"]
        assert reopened.get_entries() == []
        assert [info.title for info in again.list() if info.id == s.id] == [None]
        with pytest.raises(SessionError, match="no turn to undo"):
            reopened.undo()
        again.close()

    def test_restore_to_abandoned_branch(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid())
        s.append_message("user", "root")
        base = s.checkpoint()
        s.append_message("user", "branch-1")
        tip1 = s.checkpoint()
        s.restore(base.id)
        s.append_message("user", "branch-2")
        s.restore(tip1.id)
        assert [e.data["content"] for e in s.get_entries()] == ["root", "branch-1"]
        again = self.reopen(make_backend).get(s.id)
        assert [e.data["content"] for e in again.get_entries()] == ["root", "branch-1"]

    def test_checkpoint_of_empty_history(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())
        cp = s.checkpoint()
        assert (cp.seq, cp.entry_id) == (0, None)
        s.append_message("user", "x")
        s.restore(cp.id)
        assert s.get_entries() == []
        assert s.append_message("user", "y").seq == 1

    def test_checkpoints_listed_in_order(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid())
        made = []
        for i in range(3):
            s.append_message("user", str(i))
            made.append(s.checkpoint(metadata={"i": i}))
        assert s.checkpoints() == made
        assert self.reopen(make_backend).get(s.id).checkpoints() == made

    def test_restore_unknown_checkpoint(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())
        s.append_message("user", "x")
        with pytest.raises(CheckpointNotFoundError, match="cp_nope"):
            s.restore("cp_nope")
        assert len(s.get_entries()) == 1

    def test_tampered_history_fails_restore(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid())
        first = s.append_message("user", "original")
        s.append_message("assistant", "reply")
        cp = s.checkpoint()
        s.append_message("user", "later")
        mgr.close()
        self.tamper_entry(make_backend, s.id, first.id)
        reopened = self.reopen(make_backend).get(s.id)
        with pytest.raises(ChecksumMismatchError):
            reopened.restore(cp.id)
        assert len(reopened.get_entries()) == 3  # nothing moved

    def test_verify_checks_every_record(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid())
        first = s.append_message("user", "original")
        cp = s.checkpoint()
        s.append_message("assistant", "abandoned")
        s.restore(cp.id)
        s.append_message("assistant", "reply")
        whole = mgr.backend.verify(s.id)
        assert (whole.damage, whole.entries, whole.checkpoints) == (None, 3, 1)
        with pytest.raises(SessionNotFoundError):
            mgr.backend.verify("nobody")
        mgr.close()
        self.tamper_entry(make_backend, s.id, first.id)
        damaged = self.reopen(make_backend).backend.verify(s.id)
        assert damaged.session_id == s.id and damaged.damage is not None

    def test_checkpoints_from_other_instance_visible(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid())
        s.append_message("user", "x")
        other = self.reopen(make_backend).get(s.id)
        cp = other.checkpoint()
        other.append_message("user", "y")
        assert [c.id for c in s.checkpoints()] == [cp.id]
        s.restore(cp.id)
        assert len(other.get_entries()) == 1

    # -- listing and retention ------------------------------------------------------------------

    def test_list_filters_sorts_and_pages(self, mgr: Manager) -> None:
        a = mgr.create("alpha", "a1", user_id="u1")
        time.sleep(0.01)
        mgr.create("alpha", "a2", user_id="u2")
        time.sleep(0.01)
        mgr.create("beta", "b1", user_id="u1")
        time.sleep(0.01)
        a.append_message("user", "bump")
        a.append_message("assistant", "reply")
        a.append_entry(EntryType.METADATA, {"k": "v"})
        infos = mgr.list()
        assert [i.id for i in infos] == ["a1", "b1", "a2"]
        assert {i.id: i.message_count for i in infos} == {"a1": 2, "a2": 0, "b1": 0}
        assert [i.id for i in mgr.list(agent="alpha")] == ["a1", "a2"]
        assert [i.id for i in mgr.list(user_id="u1")] == ["a1", "b1"]
        assert [i.id for i in mgr.list(limit=1, offset=1)] == ["b1"]
        assert mgr.list(agent="nobody") == []
        assert mgr.most_recent("alpha") is not None
        assert mgr.most_recent("alpha").id == "a1"  # type: ignore[union-attr]

    def test_list_counts_messages_after_restore(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid())
        s.append_message("user", "1")
        cp = s.checkpoint()
        s.append_message("user", "2")
        s.append_message("user", "3")
        s.restore(cp.id)
        counts = {i.id: i.message_count for i in self.reopen(make_backend).list()}
        assert counts[s.id] == 1

    def test_prune_deletes_idle_sessions(self, mgr: Manager, monkeypatch: pytest.MonkeyPatch) -> None:
        old = mgr.create("assistant", "old")
        old.append_message("user", "x")
        other_agent = mgr.create("other", "old-other")
        time.sleep(0.4)  # the cause: "old" and "fresh" are written at least 0.4 s apart
        fresh = mgr.create("assistant", "fresh")
        written = fresh.append_message("user", "y").timestamp
        # prune's clock, held just after the last write: however long the machine takes to get to the
        # prune, "fresh" is 0.1 s old and "old" at least 0.5 s
        monkeypatch.setattr(manager_module, "utcnow", lambda: written + timedelta(seconds=0.1))
        assert mgr.prune(older_than=timedelta(seconds=0.3), agent="assistant") == ["old"]
        assert sorted(i.id for i in mgr.list()) == ["fresh", "old-other"]
        assert sorted(mgr.prune(older_than=timedelta(seconds=0.3))) == [other_agent.id]
        with pytest.raises(SessionNotFoundError):
            mgr.get("old")

    def test_updated_at_moves_on_append(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())
        before = s.info.updated_at
        time.sleep(0.02)
        s.append_message("user", "x")
        assert s.info.updated_at > before
        assert s.info.updated_at.tzinfo == UTC or s.info.updated_at.utcoffset() == timedelta(0)

    # -- export / import ---------------------------------------------------------------------------

    def test_export_import_round_trip(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid(), user_id="u-7", metadata={"title": "trip"})
        s.append_message("user", "one ✓")
        base = s.checkpoint(metadata={"n": 1})
        s.append_message("assistant", "two")
        s.restore(base.id)
        s.append_message("user", "three")
        call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        s.append_message("assistant", None, tool_calls=[call])
        s.append_message("tool", "ok", tool_call_id="c1")
        tip = s.checkpoint()
        lines = list(export_lines(s))
        history = s.get_entries()
        assert mgr.delete(s.id)
        imported = import_lines(self.reopen(make_backend), lines, source="dump.jsonl")
        assert list(export_lines(imported)) == lines
        assert imported.get_entries() == history
        assert imported.info.message_count == 4
        assert (imported.user_id, imported.info.metadata) == ("u-7", {"title": "trip"})
        imported.restore(base.id)  # checksums still verify after the trip
        assert [e.data["content"] for e in imported.get_entries()] == ["one ✓"]
        imported.restore(tip.id)
        assert imported.append_message("user", "four").seq == 5

    def test_import_refuses_existing_session_and_bad_data(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())
        first = s.append_message("user", "x")
        lines = list(export_lines(s))
        with pytest.raises(SessionExistsError):
            import_lines(mgr, lines)
        mgr.delete(s.id)
        with pytest.raises(SessionCorruptedError, match=r"dump.jsonl:2"):
            import_lines(mgr, [lines[0], "{not json", *lines[2:]], source="dump.jsonl")
        tampered = lines[1].replace('"x"', '"y"')
        with pytest.raises(SessionCorruptedError):
            import_lines(mgr, [lines[0], tampered, *lines[2:]])
        assert first.seq == 1
        with pytest.raises(SessionNotFoundError):
            mgr.get(s.id)  # nothing was stored by the failed imports

    # -- concurrency, leases, lifecycle -------------------------------------------------------------

    def test_threads_append_without_gaps(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                for i in range(40):
                    s.append_entry(EntryType.METADATA, {"t": n, "i": i})
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        entries = s.get_entries()
        assert [e.seq for e in entries] == list(range(1, 241))
        assert len({(e.data["t"], e.data["i"]) for e in entries}) == 240

    def test_two_instances_interleave_appends(self, mgr: Manager, make_backend: MakeBackend) -> None:
        a = mgr.create("assistant", sid())
        b = self.reopen(make_backend).get(a.id)
        for i in range(10):
            (a if i % 2 else b).append_message("user", str(i))
        assert [e.data["content"] for e in a.get_entries()] == [str(i) for i in range(10)]
        assert [e.seq for e in b.get_entries()] == list(range(1, 11))

    def test_lease_excludes_second_holder(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid())
        other = self.reopen(make_backend).get(s.id)
        with s.lease(ttl=10):
            with pytest.raises(SessionBusyError):
                other.lease(ttl=10, wait=0)
            with pytest.raises(SessionBusyError):
                other.lease(ttl=10, wait=0.2)
        with other.lease(ttl=10, wait=0) as lease:
            lease.extend()
        with s.lease(ttl=10, wait=0):
            pass

    def test_lease_waits_for_release(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid())
        other = self.reopen(make_backend).get(s.id)
        held = s.lease(ttl=10)
        released = threading.Event()

        def release_later() -> None:
            time.sleep(0.3)  # the cause, not a wait: let the other holder start waiting first
            released.set()
            held.release()

        releaser = threading.Thread(target=release_later)
        releaser.start()
        with other.lease(ttl=10, wait=60):
            assert released.is_set()  # it had the lease only once the first holder let go
        releaser.join()

    def test_release_twice_is_harmless(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())
        lease = s.lease(ttl=10)
        lease.release()
        lease.release()
        with s.lease(ttl=10, wait=0):
            lease.release()  # must not free the new holder's lease
            with pytest.raises(SessionBusyError):
                s.lease(ttl=10, wait=0)

    # -- fencing: a write made through a lease is refused once the lease is no longer held --------

    def test_writes_through_a_held_lease_land(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())
        with s.lease(ttl=10) as lease:
            turn = lease.session
            assert turn.id == s.id
            turn.append_message("user", "one")
            cp = turn.checkpoint()
            turn.append_message("assistant", "two")
            turn.restore(cp.id)
        assert [e.data["content"] for e in s.get_entries()] == ["one"]

    def test_writes_through_a_lost_lease_are_refused(self, mgr: Manager, make_backend: MakeBackend) -> None:
        s = mgr.create("assistant", sid())
        stale = s.lease(ttl=10)
        turn = stale.session
        turn.append_message("user", "mine", entry_id="e-mine")
        cp = turn.checkpoint()
        stale.release()
        for write in (
            lambda: turn.append_message("user", "late"),
            lambda: turn.append_message("user", "mine", entry_id="e-mine"),  # even a retried id
            turn.checkpoint,
            lambda: turn.restore(cp.id),
        ):
            with pytest.raises(LeaseLostError):  # no holder at all
                write()
        other = self.reopen(make_backend).get(s.id)
        with other.lease(ttl=10, wait=0) as holder:
            with pytest.raises(LeaseLostError, match=s.id):  # another holder now
                turn.append_message("user", "late")
            with pytest.raises(LeaseLostError):
                turn.checkpoint()
            holder.session.append_message("assistant", "theirs")
        assert [e.data["content"] for e in s.get_entries()] == ["mine", "theirs"]
        assert [c.id for c in s.checkpoints()] == [cp.id]
        s.append_message("user", "unleased writes are not fenced")

    def test_the_store_refuses_a_token_that_is_not_the_holders(self, make_backend: MakeBackend) -> None:
        backend = make_backend()
        s = Manager(backend).create("assistant", sid())
        with s.lease(ttl=10):
            with pytest.raises(LeaseLostError):
                backend.append(s.id, "e-x", EntryType.MESSAGE, {"role": "user", "content": "x"}, utcnow(),
                               fence="not-the-token")  # fmt: skip
            with pytest.raises(LeaseLostError):
                backend.create_checkpoint(s.id, "cp-x", {}, utcnow(), fence="not-the-token")
        assert s.get_entries() == [] and s.checkpoints() == []

    def test_every_async_twin_does_what_its_sync_twin_does(self, mgr: Manager) -> None:
        """Each public ``a``-method, called as a service on an event loop calls it, against its twin."""

        async def main() -> None:
            s = await mgr.acreate("assistant", "twins", user_id="u-1", metadata={"k": 1})
            assert ((await mgr.aget("twins")).id, (await mgr.aget_or_create("assistant", "twins")).id) == ("twins",) * 2
            await s.aappend_entry(EntryType.MESSAGE, {"role": "user", "content": "hi"})
            await s.aappend_message("assistant", "hello")
            assert (await s.aget_entries(), await s.aget_messages()) == (s.get_entries(), s.get_messages())
            assert (await s.ainfo()).message_count == s.info.message_count == 2
            cp = await s.acheckpoint(metadata={"why": "twins"})
            await s.aappend_message("user", "later")
            assert await s.acheckpoints() == s.checkpoints() == [cp]
            assert (await s.arestore(cp.id)).id == cp.id and len(s.get_entries()) == 2
            assert (await s.aall_entries(), await s.asnapshot()) == (s.all_entries(), s.snapshot())
            async with await s.alease(ttl=10) as lease:
                await lease.aextend(20)
                assert await s.run_blocking(s.get_messages) == await mgr.run_blocking(s.get_messages, None)
            assert [i.id for i in await mgr.alist(agent="assistant")] == ["twins"]
            assert (await mgr.amost_recent("assistant")).id == "twins"  # type: ignore[union-attr]
            copy = await aimport_lines(mgr, await aexport_lines(s), session_id="twins-copy")
            assert copy.all_entries() == s.all_entries()
            info, head = replace(s.info, id="twins-parts"), s.get_entries()[-1].id
            parts = await mgr.aimport_session(info, s.all_entries(), s.checkpoints(), head)
            snapshot = s.snapshot()
            header = replace(snapshot.header, id="twins-plan")
            planned = await mgr.aimport_plan(plan_import(header, snapshot.entries, snapshot.checkpoints, head))
            header = replace(header, id="twins-plan-sync")
            planned_sync = mgr.import_plan(plan_import(header, snapshot.entries, snapshot.checkpoints, head))
            assert parts.get_entries() == planned.get_entries() == planned_sync.get_entries() == s.get_entries()
            assert (await mgr.adelete("twins-copy"), await mgr.adelete("twins-copy")) == (True, False)
            assert await mgr.aprune(older_than=timedelta(days=1)) == []

        asyncio.run(main())

    def test_async_writes_through_a_lease_are_fenced(self, mgr: Manager) -> None:
        s = mgr.create("assistant", sid())

        async def main() -> None:
            async with await s.alease(ttl=10) as lease:
                await lease.session.aappend_message("user", "inside")
            with pytest.raises(LeaseLostError):
                await lease.session.aappend_message("user", "after release")
            with pytest.raises(LeaseLostError):
                await lease.session.acheckpoint()

        asyncio.run(main())
        assert [e.data["content"] for e in s.get_entries()] == ["inside"]

    def test_stale_holders_never_write_between_other_turns(self, mgr: Manager, make_backend: MakeBackend) -> None:
        """Holders on separate store instances (processes, nodes) take turns; after each turn the old
        holder tries one more write with its released lease. Every turn stays whole, and not one stale
        write lands."""
        session_id = mgr.create("assistant", sid()).id
        holders, turns, per_turn = 4, 8, 3
        refused: list[int] = []
        errors: list[BaseException] = []

        def work(holder: int) -> None:
            try:
                s = Manager(make_backend()).get(session_id)
                for turn in range(turns):
                    with s.lease(ttl=30, wait=60) as lease:
                        for step in range(per_turn):
                            lease.session.append_entry(EntryType.METADATA, {"h": holder, "t": turn, "s": step})
                    try:
                        lease.session.append_entry(EntryType.METADATA, {"h": holder, "t": turn, "s": "stale"})
                    except LeaseLostError:
                        refused.append(holder)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(h,)) for h in range(holders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(refused) == holders * turns
        data = [e.data for e in mgr.get(session_id).get_entries()]
        assert len(data) == holders * turns * per_turn
        assert all(d["s"] != "stale" for d in data)
        for start in range(0, len(data), per_turn):  # each turn's entries are contiguous and in order
            chunk = data[start : start + per_turn]
            assert {(d["h"], d["t"]) for d in chunk} == {(chunk[0]["h"], chunk[0]["t"])}
            assert [d["s"] for d in chunk] == list(range(per_turn))

    def test_lease_released_after_close_does_not_raise(self, make_backend: MakeBackend) -> None:
        mgr = Manager(make_backend())
        session = mgr.create("assistant", sid())
        with session.lease(ttl=5):
            mgr.close()  # e.g. a runtime shutting down mid-turn: leaving the block must not mask that

    def test_closed_manager_refuses_work(self, make_backend: MakeBackend) -> None:
        mgr = Manager(make_backend())
        s = mgr.create("assistant", sid())
        mgr.close()
        mgr.close()
        with pytest.raises(StoreClosedError):
            s.append_message("user", "x")
        with pytest.raises(StoreClosedError):
            mgr.list()

    def test_closed_backend_refuses_work(self, make_backend: MakeBackend) -> None:
        backend = make_backend()
        Manager(backend).create("assistant", "closing")
        backend.close()
        with pytest.raises(StoreClosedError):
            backend.get_info("closing")

    def test_manager_as_context_manager(self, make_backend: MakeBackend) -> None:
        with Manager(make_backend()) as mgr:
            mgr.create("assistant", sid())
        with pytest.raises(StoreClosedError):
            mgr.list()

    # -- context helpers ----------------------------------------------------------------------------

    def test_context_helpers_across_tasks(self, mgr: Manager) -> None:
        one = mgr.create("assistant", sid())
        two = mgr.create("assistant", sid())
        assert session_from_context() is None

        async def current_after_yield() -> Session | None:
            await asyncio.sleep(0.01)
            return session_from_context()

        async def main() -> tuple[Any, ...]:
            with use_session(one):
                inherited = asyncio.create_task(current_after_yield())
                isolated = asyncio.create_task(current_after_yield(), context=context_with_session(two))
                return await inherited, await isolated, session_from_context()

        inherited, isolated, inside = asyncio.run(main())
        assert (inherited, isolated, inside) == (one, two, one)
        assert session_from_context() is None
        assert context_with_session(two).run(session_from_context) is two

    # -- model-based ---------------------------------------------------------------------------------

    model_examples = 40

    def test_matches_in_memory_model(self, make_backend: MakeBackend) -> None:
        run_state_machine_as_test(
            lambda: _ModelMachine(make_backend),
            settings=settings(
                max_examples=self.model_examples,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )


class _ModelMachine(RuleBasedStateMachine):
    """Random append/get/checkpoint/restore/reopen sequences on a store, checked against the session
    core itself (:class:`~aixgo.session.core.SessionState`) as the model: every store must behave
    exactly as the rules say."""

    def __init__(self, make_backend: MakeBackend) -> None:
        super().__init__()
        self.make_backend = make_backend
        self.mgr = Manager(make_backend())
        self.session = self.mgr.create("model", sid())
        self.model = SessionState()
        self.model.header = Header(self.session.id, "model", None, utcnow(), {})

    @rule(text=st.text(max_size=20), kind=st.sampled_from([EntryType.MESSAGE, EntryType.METADATA]))
    def append(self, text: str, kind: EntryType) -> None:
        data = {"role": "user", "content": text} if kind is EntryType.MESSAGE else {"note": text}
        entry = self.session.append_entry(kind, data)
        expected = self.model.next_entry(entry.id, kind, data, entry.timestamp)
        self.model.add_entry(expected.entry, expected.encoded)
        assert entry == expected.entry

    @rule(
        limit=st.none() | st.integers(min_value=0, max_value=30),
        before=st.none() | st.integers(min_value=0, max_value=30),
        after=st.none() | st.integers(min_value=0, max_value=30),
    )
    def get(self, limit: int | None, before: int | None, after: int | None) -> None:
        from aixgo.session.core import apply_range, history_range

        got = self.session.get_entries(limit=limit, before=before, after=after)
        assert got == apply_range(self.model.history, history_range(limit, before, after))

    @rule()
    def checkpoint(self) -> None:
        cp = self.session.checkpoint()
        assert (cp.entry_id, cp.seq, cp.checksum) == (
            self.model.head.entry_id,
            self.model.head.seq,
            self.model.head.hash.hex(),
        )
        self.model.add_checkpoint(cp)

    @precondition(lambda self: bool(self.model.checkpoints))
    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        cp_id = data.draw(st.sampled_from(sorted(self.model.checkpoints)))
        self.session.restore(cp_id)
        self.model.move_head(self.model.checkpoints[cp_id].entry_id)

    @rule()
    def reopen(self) -> None:
        self.mgr.close()
        self.mgr = Manager(self.make_backend())
        self.session = self.mgr.get(self.session.id)

    @invariant()
    def history_matches(self) -> None:
        assert self.session.get_entries() == self.model.history
        assert self.session.all_entries() == list(self.model.entries.values())
        assert self.session.checkpoints() == list(self.model.checkpoints.values())
        info = self.session.info
        assert info.message_count == self.model.head.message_count

    def teardown(self) -> None:
        self.mgr.close()
