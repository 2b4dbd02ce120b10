"""The Redis store's recent entries: reads of unchanged sessions move no entries, and never go stale.

Every test here uses a real ``redis-server``. Several store instances on one server stand for
several nodes; a store with ``cache_bytes=0`` keeps nothing and is the reference for what a read
must return.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aixgo.errors import SessionCorruptedError, SessionNotFoundError
from aixgo.session import EntryType, Manager
from aixgo.session.core.codec import utcnow
from aixgo.session.core.slicing import history_range
from aixgo.session.transfer import export_lines, import_lines
from tests.session.contract import sid
from tests.session.redis_server import record_scripts

pytestmark = pytest.mark.redis


def test_reading_an_unchanged_session_again_moves_no_entries(open_backend: Callable[..., Any]) -> None:
    writer, reader = open_backend(), open_backend()
    s = Manager(writer).create("assistant", sid())
    for i in range(300):
        s.append_message("user", f"message {i}")
    other = Manager(reader).get(s.id)
    calls = record_scripts(reader)
    first = other.get_entries(limit=100)
    again = other.get_entries(limit=100)
    assert again == first and [e.seq for e in again] == list(range(201, 301))
    assert calls.replies("history")[1] == [b"same"]  # the second read: one small reply, no entry
    # a narrower read inside what the reader holds, and one with cursors, are answered alike
    assert other.get_entries(limit=10) == first[-10:]
    assert other.get_entries(after=250, limit=5) == first[50:55]
    assert other.get_entries(before=290, limit=3) == first[86:89]
    assert calls.replies("history")[2:] == [[b"same"]] * 3
    # the writer holds what it appended itself: its first read moves nothing either
    writer_calls = record_scripts(writer)
    assert s.get_entries(limit=100) == first
    assert writer_calls.replies("history") == [[b"same"]]
    s.append_message("user", "later")  # what a read returned is the caller's: later appends leave it alone
    assert len(first) == len(again) == 100 and first[-1].seq == 300


def test_a_read_never_returns_what_another_instance_has_since_changed(open_backend: Callable[..., Any]) -> None:
    a, b = open_backend(), open_backend()
    sa = Manager(a).create("assistant", sid())
    for i in range(10):
        sa.append_message("user", f"m{i}")
    cp = sa.checkpoint()
    sb = Manager(b).get(sa.id)
    assert [e.data["content"] for e in sb.get_entries(limit=3)] == ["m7", "m8", "m9"]

    sa.append_message("user", "m10")  # another node appends
    assert [e.data["content"] for e in sb.get_entries(limit=3)] == ["m8", "m9", "m10"]
    sa.restore(cp.id)  # another node restores, then appends: as many entries as before, not the same ones
    sa.append_message("user", "other branch")
    assert [e.data["content"] for e in sb.get_entries(limit=3)] == ["m8", "m9", "other branch"]
    sa.restore(cp.id)
    assert [e.data["content"] for e in sb.get_entries(limit=3)] == ["m7", "m8", "m9"]
    sa.append_message("user", "other branch")

    # deleted and created again under the same id, by another node
    exported = list(export_lines(sa))
    Manager(a).delete(sa.id)
    with pytest.raises(SessionNotFoundError):
        sb.get_entries(limit=3)
    again = Manager(a).create("assistant", sa.id)
    again.append_message("user", "new life")
    assert [e.data["content"] for e in Manager(b).get(sa.id).get_entries(limit=3)] == ["new life"]
    Manager(a).delete(sa.id)
    import_lines(Manager(a), exported)  # and imported back
    assert Manager(b).get(sa.id).get_entries(limit=1)[0].data["content"] == "other branch"


def test_held_entries_never_hide_evicted_keys(open_backend: Callable[..., Any]) -> None:
    backend = open_backend()
    s = Manager(backend).create("assistant", sid())
    for i in range(5):
        s.append_message("user", f"m{i}")
    assert len(s.get_entries(limit=3)) == 3
    backend.client.delete(backend.keys_of(s.id)[1])  # the history list is evicted
    with pytest.raises(SessionCorruptedError, match="evicted"):
        s.get_entries(limit=3)
    backend.client.delete(backend.keys_of(s.id)[0])  # its header too: what is left is still damage
    with pytest.raises(SessionCorruptedError, match="header is missing"):
        s.get_entries(limit=3)
    backend.client.delete(*backend.keys_of(s.id))  # nothing left at all: gone
    with pytest.raises(SessionNotFoundError):
        s.get_entries(limit=3)


def test_memory_held_stays_within_cache_bytes(open_backend: Callable[..., Any]) -> None:
    budget = 40_000
    backend, reference = open_backend(cache_bytes=budget), open_backend(cache_bytes=0)
    sessions = [Manager(backend).create("assistant", sid()) for _ in range(12)]
    for round_ in range(60):
        for s in sessions:
            s.append_message("user", f"round {round_} " + "x" * 100)
    for s in sessions:
        assert s.get_entries(limit=50) == Manager(reference).get(s.id).get_entries(limit=50)
        assert backend._recent.held <= budget
    assert backend._recent.held > budget // 2  # and it does hold something
    calls = record_scripts(reference)
    Manager(reference).get(sessions[0].id).get_entries(limit=5)
    Manager(reference).get(sessions[0].id).get_entries(limit=5)
    assert reference._recent.held == 0 and calls.replies("history")[1][0] == b"ok"  # cache_bytes=0 keeps nothing


def test_many_new_sessions_are_kept_within_the_budget_too(open_backend: Callable[..., Any]) -> None:
    from aixgo.session.redis.recent import TAIL_OVERHEAD

    budget = 50 * TAIL_OVERHEAD
    backend = open_backend(cache_bytes=budget)
    manager = Manager(backend)
    for _ in range(300):  # empty sessions hold no entries, but each kept one costs memory
        manager.create("assistant", sid())
    assert len(backend._recent._tails) == 50 and backend._recent.held == budget


def test_a_long_run_of_appends_keeps_only_the_newest_entries(open_backend: Callable[..., Any]) -> None:
    from aixgo.session.redis.recent import SESSION_SHARE, TAIL_OVERHEAD

    budget = 200_000
    backend = open_backend(cache_bytes=budget)
    s = Manager(backend).create("assistant", sid())
    for i in range(3000):  # about 100 bytes each: more than one session may keep
        backend.append(s.id, f"e{i}", EntryType.METADATA, {"i": i}, utcnow())
    tail = backend._recent._tails[s.id]
    assert 0.85 * budget // SESSION_SHARE <= tail.weight - TAIL_OVERHEAD <= budget // SESSION_SHARE
    assert tail.weight == TAIL_OVERHEAD + sum(tail.sizes) and backend._recent.held == tail.weight
    held = len(tail.entries)
    assert [e.seq for e in tail.entries] == list(range(3001 - held, 3001))
    calls = record_scripts(backend)
    assert [e.data["i"] for e in s.get_entries(limit=held)] == list(range(3000 - held, 3000))
    assert calls.replies("history") == [[b"same"]]
    assert [e.data["i"] for e in s.get_entries(limit=held + 100)] == list(range(2900 - held, 3000))
    assert calls.replies("history")[1][0] == b"ok"  # beyond what is held: read


def test_a_whole_long_session_is_held_within_the_default_budget(open_backend: Callable[..., Any]) -> None:
    backend = open_backend()
    s = Manager(backend).create("assistant", sid())
    for i in range(2000):
        s.append_message("user", f"message {i} " + "x" * 80)
    calls = record_scripts(backend)
    every = s.get_entries()
    assert len(every) == 2000 and calls.replies("history") == [[b"same"]]
    assert Manager(open_backend(cache_bytes=0)).get(s.id).get_entries() == every


def test_restoring_an_own_checkpoint_takes_one_round_trip_and_checks_its_record(
    open_backend: Callable[..., Any],
) -> None:
    backend = open_backend()
    s = Manager(backend).create("assistant", sid())
    s.append_message("user", "a")
    cp = s.checkpoint(metadata={"label": "before b"})
    s.append_message("user", "b")
    calls = record_scripts(backend)
    assert s.restore(cp.id) == cp
    assert calls.names() == ["restore"]
    # a checkpoint record changed behind the store's back is read and verified the long way
    cps = backend.keys_of(s.id)[4]
    record = backend.client.hget(cps, f"r:{cp.id}")
    backend.client.hset(cps, f"r:{cp.id}", record.replace(b"before b", b"edited"))
    s.append_message("user", "c")
    calls.clear()
    restored = s.restore(cp.id)
    assert calls.names() == ["restore", "checkpoint_info", "restore"]
    assert restored.metadata == {"label": "edited"}
    assert [e.data["content"] for e in s.get_entries()] == ["a"]


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.sampled_from("ab"), st.integers(1, 3)),
        st.tuples(st.just("checkpoint"), st.sampled_from("ab"), st.just(0)),
        st.tuples(st.just("restore"), st.sampled_from("ab"), st.integers(0, 50)),
        st.tuples(
            st.just("read"),
            st.sampled_from("ab"),
            st.tuples(
                st.one_of(st.none(), st.integers(0, 12)),
                st.one_of(st.none(), st.integers(0, 30)),
                st.one_of(st.none(), st.integers(0, 30)),
            ),
        ),
    ),
    max_size=40,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_two_instances_read_what_an_instance_that_keeps_nothing_reads(
    open_backend: Callable[..., Any], ops: list[tuple[str, str, Any]]
) -> None:
    nodes = {"a": Manager(open_backend()), "b": Manager(open_backend())}
    reference = Manager(open_backend(cache_bytes=0))
    session_id = sid()
    nodes["a"].create("assistant", session_id)
    checkpoints: list[str] = []

    def read(node: str, limit: int | None, before: int | None, after: int | None) -> None:
        got = nodes[node].get(session_id).get_entries(limit=limit, before=before, after=after)
        want = reference.get(session_id).get_entries(limit=limit, before=before, after=after)
        assert got == want, (node, history_range(limit, before, after))

    for op, node, arg in ops:
        s = nodes[node].get(session_id)
        if op == "append":
            for i in range(arg):
                s.append_message("user", f"{node}{i}")
        elif op == "checkpoint":
            checkpoints.append(s.checkpoint().id)
        elif op == "restore" and checkpoints:
            s.restore(checkpoints[arg % len(checkpoints)])
        elif op == "read":
            read(node, *arg)
        read(node, 4, None, None)  # the end of the history, as the node that acted reads it
