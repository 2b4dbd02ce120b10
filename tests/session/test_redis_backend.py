"""The Redis backend against real ``redis-server`` processes: the contract suite, plus what only Redis
can show (hash tags on a Cluster node, TTL, lost replies, server crashes, passwords, URL forms).

Every server is started here on a free loopback port (never 6379); see ``tests/session/redis_server.py``.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aixgo.errors import (
    AixgoError,
    ChecksumMismatchError,
    LeaseLostError,
    SessionBusyError,
    SessionExistsError,
    SessionNotFoundError,
    StoreClosedError,
    StoreConnectionError,
    UnsupportedVersionError,
)
from aixgo.session import Backend, EntryType, Manager
from aixgo.session.core import Header, apply_range, history_range
from aixgo.session.core.codec import ROOT_HASH, chain_hash, checkpoint_record, dumps, encode_entry, utcnow
from aixgo.session.redis.scripts import SCRIPTS
from aixgo.session.transfer import export_lines, import_lines
from tests.session.contract import BackendContract, MakeBackend, sid
from tests.session.redis_server import (
    RedisServer,
    ReplyDroppingProxy,
    append_from_threads,
    record_scripts,
    require_redis_py,
    require_redis_server,
    tamper_redis_entry,
)

pytestmark = pytest.mark.redis

try:
    import redis
except ImportError:  # every test below skips (or fails with AIXGO_REQUIRE_REDIS=1)
    redis = None  # type: ignore[assignment]


def backend_module() -> Any:
    from aixgo.session import redis as redis_backend

    return redis_backend


class TestRedisContract(BackendContract):
    @pytest.fixture
    def make_backend(self, open_backend: Callable[..., Any]) -> MakeBackend:
        return open_backend

    def tamper_entry(self, make_backend: MakeBackend, session_id: str, entry_id: str) -> None:
        tamper_redis_entry(make_backend(), session_id, entry_id)


# -- layout ----------------------------------------------------------------------------------------

WEIRD_IDS = ["plain", "a{b}c", "}x{", "{}", "%7B", "a{b", "a%7Bb", "with space", "ü✓"]


def test_every_key_of_a_session_shares_one_hash_tag(open_backend: Callable[..., Any]) -> None:
    from redis.crc import key_slot

    backend = open_backend()
    mgr = Manager(backend)
    raw = backend.client
    seen: dict[str, set[bytes]] = {}
    for session_id in WEIRD_IDS:
        s = mgr.create("assistant", session_id)
        s.append_message("user", "one")
        cp = s.checkpoint()
        s.append_message("user", "two")
        s.restore(cp.id)  # fills the 'gone' hash too
        with s.lease(ttl=30):
            keys = {k.encode() for k in backend.keys_of(session_id) if raw.exists(k)}
        assert len(keys) == 6  # meta hist ent gone cps lease
        seen[session_id] = keys
    all_keys = set(raw.scan_iter(match=backend.options.key_prefix + "*"))
    assert all_keys - set().union(*seen.values()) == {
        (backend.options.key_prefix + n).encode() for n in ("agents", "agent:assistant")
    }
    for session_id in WEIRD_IDS:
        names = backend.keys_of(session_id)
        slots = {key_slot(name.encode()) for name in names}
        assert len(slots) == 1, (session_id, names)
        tag = names[0][names[0].index("{") + 1 : names[0].index("}")]
        assert tag and all(f"{{{tag}}}" in name for name in names)
    # distinct ids never share a key (the escaping is injective)
    assert sum(len(v) for v in seen.values()) == len(set().union(*seen.values()))


def test_layout_runs_on_a_single_node_cluster() -> None:
    """On a Cluster node a script whose keys span slots fails with CROSSSLOT: the whole API must work."""
    require_redis_server()
    with RedisServer(extra_args=["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]) as srv:
        client = srv.client()
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        deadline = time.monotonic() + 10
        while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
            assert time.monotonic() < deadline, "the one-node cluster did not come up"
            time.sleep(0.05)
        # the checks the layout must pass: commands and scripts over keys of different slots fail
        with pytest.raises(redis.exceptions.ResponseError, match="same slot"):
            client.mget("{a}x", "{b}y")
        with pytest.raises(redis.exceptions.ResponseError, match="same slot"):
            client.eval("return 1", 2, "{a}x", "{b}y")
        mod = backend_module()
        backend = mod.RedisBackend(client, mod.RedisOptions(ttl=timedelta(hours=1)))
        with Manager(backend) as mgr:
            for session_id in WEIRD_IDS:
                s = mgr.create("assistant", session_id, metadata={"k": 1})
                first = s.append_message("user", "one")
                root = s.checkpoint()
                s.append_message("user", "two")
                tip = s.checkpoint()
                s.restore(root.id)
                s.append_message("user", "three")
                s.restore(tip.id)  # a branch switch
                assert [e.data["content"] for e in s.get_entries(limit=10, after=0)] == ["one", "two"]
                assert len(s.all_entries()) == 3
                assert [c.id for c in s.checkpoints()] == [root.id, tip.id]
                with s.lease(ttl=5) as lease:
                    lease.extend()
                assert s.append_entry(EntryType.MESSAGE, {"role": "user"}, entry_id=first.id) == first
            lines = list(export_lines(mgr.get("plain")))
            assert mgr.delete("plain")
            assert list(export_lines(import_lines(mgr, lines))) == lines
            assert sorted(i.id for i in mgr.list(agent="assistant")) == sorted(WEIRD_IDS)
            assert all(mgr.delete(session_id) for session_id in WEIRD_IDS)
            assert mgr.list() == []
        client.close()


def test_stored_bytes_are_the_canonical_encoding(open_backend: Callable[..., Any]) -> None:
    backend = open_backend()
    s = Manager(backend).create("assistant", sid())
    entries = [s.append_message("user", f'héllo {i} "q"') for i in range(3)]
    cp = s.checkpoint(metadata={"why": "test"})
    raw = backend.client
    meta, hist, _ent, _gone, cps, _lease = backend.keys_of(s.id)
    assert raw.lrange(hist, 0, -1) == [encode_entry(e).encode() for e in entries]
    assert raw.hget(cps, f"r:{cp.id}") == dumps(checkpoint_record(cp)).encode()
    digest = ROOT_HASH
    for e in entries:
        digest = chain_hash(digest, encode_entry(e))
    assert cp.checksum == digest.hex()
    assert raw.hget(meta, "v") == b"1"


@given(
    n=st.integers(min_value=0, max_value=12),
    limit=st.none() | st.integers(min_value=0, max_value=15),
    before=st.none() | st.integers(min_value=-2, max_value=16),
    after=st.none() | st.integers(min_value=-2, max_value=16),
)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_cursor_rules_match_the_core(
    cursor_sessions: tuple[Any, dict[int, str]],
    n: int,
    limit: int | None,
    before: int | None,
    after: int | None,
) -> None:
    """The Lua history script applies the core's range mechanically: same entries as a list slice."""
    backend, sessions = cursor_sessions
    full = backend.history(sessions[n], history_range(None, None, None))
    assert [e.seq for e in full] == list(range(1, n + 1))
    try:
        rng = history_range(limit, before, after)
    except ValueError:
        return  # negative cursors are refused before any store is asked
    assert backend.history(sessions[n], rng) == apply_range(full, rng)


@pytest.fixture(scope="module")
def cursor_sessions(server: RedisServer) -> Iterator[tuple[Any, dict[int, str]]]:
    mod = backend_module()
    backend = mod.RedisBackend(server.address, mod.RedisOptions(key_prefix=f"cursor{uuid.uuid4().hex[:6]}:"))
    sessions = {}
    for n in range(13):
        session_id = f"n{n}"
        backend.create_session(Header(session_id, "assistant", None, utcnow(), {}))
        for i in range(n):
            backend.append(session_id, f"e{i}", EntryType.METADATA, {"i": i}, utcnow())
        sessions[n] = session_id
    yield backend, sessions
    backend.close()


def test_history_rejects_negative_limit(open_backend: Callable[..., Any]) -> None:
    backend = open_backend()
    backend.create_session(Header("neg", "assistant", None, utcnow(), {}))
    with pytest.raises(ValueError, match="limit"):
        Manager(backend).get("neg").get_entries(limit=-1)


# -- TTL -------------------------------------------------------------------------------------------


def test_ttl_expires_idle_sessions_and_each_write_extends_it(open_backend: Callable[..., Any]) -> None:
    backend = open_backend(ttl=timedelta(seconds=30))
    mgr = Manager(backend)
    raw = backend.client
    s = mgr.create("assistant", "long-lived")
    s.append_message("user", "one")
    cp = s.checkpoint()
    s.append_message("user", "two")
    s.restore(cp.id)
    data_keys = backend.keys_of(s.id)[:5]

    def expiries() -> set[int]:  # Redis's own clock: when each key of the session expires, in ms
        return {raw.pexpiretime(key) for key in data_keys}

    (expires,) = expiries()  # every key of the session, set together
    for _ in range(3):
        time.sleep(0.01)  # the cause, not a wait: Redis's clock moves on
        s.append_message("user", "still here")
        (later,) = expiries()  # refreshed together, by the append's own script
        assert later > expires  # each write pushes the expiry out
        expires = later

    idle = Manager(open_backend(ttl=timedelta(milliseconds=300)))
    idle.create("ephemeral", "short-lived")  # never written again
    time.sleep(0.6)  # the cause: longer than the ttl without a write (a loaded machine only waits longer)
    with pytest.raises(SessionNotFoundError):
        idle.get("short-lived")
    assert idle.list(agent="ephemeral") == []
    assert raw.zcard(backend.options.key_prefix + "agent:ephemeral") == 0  # the stale index member is dropped
    assert not any(raw.exists(k) for k in backend.keys_of("short-lived"))
    # an expired id can be created again, from scratch
    assert idle.create("ephemeral", "short-lived").get_entries() == []
    assert [i.id for i in mgr.list(agent="assistant")] == ["long-lived"]

def test_without_ttl_keys_are_persistent(open_backend: Callable[..., Any]) -> None:
    with_ttl = open_backend(ttl=timedelta(seconds=30))
    s = Manager(with_ttl).create("assistant", "keep")
    s.append_message("user", "x")
    raw = with_ttl.client
    assert raw.pttl(with_ttl.keys_of("keep")[0]) > 0
    forever = open_backend()
    Manager(forever).get("keep").append_message("user", "y")
    assert [raw.pttl(k) for k in forever.keys_of("keep")[:3]] == [-1, -1, -1]


# -- lost replies and retries ------------------------------------------------------------------------


@pytest.fixture
def proxy(server: RedisServer) -> Iterator[ReplyDroppingProxy]:
    p = ReplyDroppingProxy(server.port)
    yield p
    p.close()


def test_retried_append_after_lost_reply_does_not_duplicate(
    open_backend: Callable[..., Any], proxy: ReplyDroppingProxy
) -> None:
    backend = open_backend(f"127.0.0.1:{proxy.port}", retries=3)
    mgr = Manager(backend)
    s = mgr.create("assistant", sid())
    s.append_message("user", "warm up the pooled connection")
    proxy.drop_replies = 1  # the server runs the next script, its reply is lost, the connection dies
    entry = s.append_message("user", "sent once, executed once")
    assert proxy.dropped == 1
    assert entry.seq == 2
    entries = s.get_entries()
    assert [e.data["content"] for e in entries] == [
        "warm up the pooled connection",
        "sent once, executed once",
    ]
    assert entries[1] == entry
    assert backend.client.hlen(backend.keys_of(s.id)[2]) == 2  # two entry records, not three


def test_retried_create_checkpoint_and_lease_after_lost_reply(
    open_backend: Callable[..., Any], proxy: ReplyDroppingProxy
) -> None:
    backend = open_backend(f"127.0.0.1:{proxy.port}", retries=3)
    mgr = Manager(backend)
    mgr.list()  # open the pooled connection
    proxy.drop_replies = 1
    s = mgr.create("assistant", "created-once")  # the nonce makes the re-sent create succeed
    assert proxy.dropped == 1
    s.append_message("user", "x")
    proxy.drop_replies = 1
    cp = s.checkpoint()
    assert proxy.dropped == 2
    assert s.checkpoints() == [cp]
    proxy.drop_replies = 1
    with s.lease(ttl=10, wait=0) as lease:  # the re-sent acquire finds its own token
        assert proxy.dropped == 3
        lease.extend()
    with s.lease(ttl=10, wait=0):
        pass
    lines = list(export_lines(s))
    assert mgr.delete(s.id)
    proxy.drop_replies = 1
    imported = import_lines(mgr, lines)  # the nonce makes the re-sent import succeed too
    assert proxy.dropped == 4
    assert list(export_lines(imported)) == lines


def test_append_retried_by_the_caller_after_a_connection_error(
    open_backend: Callable[..., Any], proxy: ReplyDroppingProxy
) -> None:
    backend = open_backend(f"127.0.0.1:{proxy.port}", retries=0)
    s = Manager(backend).create("assistant", sid())
    s.append_message("user", "warm")
    proxy.drop_replies = 1
    with pytest.raises(StoreConnectionError, match=f"127.0.0.1:{proxy.port}"):
        s.append_entry(EntryType.MESSAGE, {"role": "user", "content": "maybe"}, entry_id="e_maybe")
    again = s.append_entry(EntryType.MESSAGE, {"role": "user", "content": "maybe"}, entry_id="e_maybe")
    assert again.seq == 2
    assert [e.id for e in s.get_entries()][1:] == ["e_maybe"]


def test_retried_append_after_a_timeout_does_not_duplicate(server: RedisServer, prefix: str) -> None:
    """The reply comes too late: redis-py times out, reconnects and sends the script again."""
    mod = backend_module()
    delayed = _DelayingProxy(server.port)
    backend = mod.RedisBackend(
        f"127.0.0.1:{delayed.port}", mod.RedisOptions(key_prefix=prefix, socket_timeout=0.3, retries=2)
    )
    try:
        s = Manager(backend).create("assistant", sid())
        s.append_message("user", "warm")
        delayed.delay_next = 1.0
        entry = s.append_message("user", "slow reply")
        assert delayed.delayed == 1
        assert [e.seq for e in s.get_entries()] == [1, 2]
        assert s.get_entries()[1] == entry
    finally:
        backend.close()
        delayed.close()


class _DelayingProxy(ReplyDroppingProxy):
    """Holds the next reply for ``delay_next`` seconds (longer than the client's socket timeout)."""

    def __init__(self, upstream_port: int) -> None:
        self.delay_next = 0.0
        self.delayed = 0
        super().__init__(upstream_port)

    def _pump(self, src: Any, dst: Any, replies: bool) -> None:
        if not replies:
            return super()._pump(src, dst, replies)
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self._lock:
                    delay, self.delay_next = self.delay_next, 0.0
                if delay:
                    self.delayed += 1
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                s.close()
        return None


def test_lost_script_cache_falls_back_to_eval(open_backend: Callable[..., Any]) -> None:
    backend = open_backend()
    s = Manager(backend).create("assistant", sid())
    s.append_message("user", "a")
    backend.client.script_flush()
    s.append_message("user", "b")
    assert [e.seq for e in s.get_entries()] == [1, 2]


# -- concurrency --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_processes_and_threads_append_to_one_session(server: RedisServer, prefix: str) -> None:
    procs, threads, per_thread = 4, 4, 40
    mod = backend_module()
    with Manager(mod.RedisBackend(server.address, mod.RedisOptions(key_prefix=prefix))) as mgr:
        mgr.create("assistant", "busy")
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=append_from_threads, args=(server.address, prefix, "busy", p, threads, per_thread))
        for p in range(procs)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    total = procs * threads * per_thread
    with Manager(mod.RedisBackend(server.address, mod.RedisOptions(key_prefix=prefix))) as mgr:
        sess = mgr.get("busy")
        history = sess.get_entries()
        assert len(sess.all_entries()) == total
        assert sess.info.message_count == 0
    assert [e.seq for e in history] == list(range(1, total + 1))
    assert all(b.parent_id == a.id for a, b in itertools.pairwise(history))
    assert len({(e.data["p"], e.data["t"], e.data["i"]) for e in history}) == total
    for p in range(procs):  # each thread's entries keep their order
        for t in range(threads):
            assert [e.data["i"] for e in history if (e.data["p"], e.data["t"]) == (p, t)] == list(
                range(per_thread)
            )


# -- checksums ------------------------------------------------------------------------------------------


def test_tampered_entry_record_fails_restore_even_on_a_warm_instance(
    open_backend: Callable[..., Any],
) -> None:
    backend = open_backend()
    s = Manager(backend).create("assistant", sid())
    s.append_message("user", "a")
    head = s.append_message("user", "b")
    cp = s.checkpoint()
    s.append_message("user", "c")
    ent = backend.keys_of(s.id)[2]
    raw = backend.client
    record = raw.hget(ent, head.id).split(b" ")
    record[3] = b"f" * 64
    raw.hset(ent, head.id, b" ".join(record))
    with pytest.raises(ChecksumMismatchError, match=cp.id):
        s.restore(cp.id)
    assert len(s.get_entries()) == 3


def test_restore_on_a_cold_instance_rehashes_the_chain(open_backend: Callable[..., Any]) -> None:
    writer = open_backend()
    s = Manager(writer).create("assistant", sid())
    for i in range(50):
        s.append_message("user", str(i))
    cp = s.checkpoint()
    s.append_message("user", "after")
    cold = open_backend()
    calls = record_scripts(cold)
    assert cold.restore(s.id, cp.id, utcnow()) == cp
    assert calls.names() == ["checkpoint_info", "chain", "restore"]
    writer_calls = record_scripts(writer)
    writer.restore(s.id, cp.id, utcnow())  # the writer made the checkpoint and hashed these bytes itself
    assert writer_calls.names() == ["restore"]  # one round trip


def test_restore_rehashes_only_what_this_instance_has_not_hashed(open_backend: Callable[..., Any]) -> None:
    a, b = open_backend(), open_backend()
    s = Manager(a).create("assistant", sid())
    for i in range(30):
        s.append_message("user", str(i))
    cp1 = s.checkpoint()
    other = Manager(b).get(s.id)
    calls = record_scripts(b)
    other.restore(cp1.id)  # b has hashed nothing yet: the whole chain
    (chain,) = calls.replies("chain")
    assert (chain[1], int(chain[3]), len(chain[4])) == (b"", 0, 30)
    for i in range(20):
        s.append_message("user", f"more {i}")
    cp2 = s.checkpoint()
    calls.clear()
    other.restore(cp2.id)  # from cp1's entry, which b verified: 20 entries
    (chain,) = calls.replies("chain")
    assert (chain[1].decode(), int(chain[3]), len(chain[4])) == (cp1.entry_id, 30, 20)
    # a branch: restore cp1 on a, write two entries, checkpoint; b re-hashes just those two
    s.restore(cp1.id)
    s.append_message("user", "b1")
    s.append_message("user", "b2")
    cp3 = s.checkpoint()
    s.restore(cp2.id)  # cp3's entries are now on an abandoned branch
    calls.clear()
    other.restore(cp3.id)
    (chain,) = calls.replies("chain")
    assert (chain[1].decode(), len(chain[4])) == (cp1.entry_id, 2)
    assert [e.data["content"] for e in other.get_entries()][-3:] == ["29", "b1", "b2"]
    # the writer restores its own checkpoints in one round trip
    calls = record_scripts(a)
    s.restore(cp3.id)
    assert calls.names() == ["restore"]


def test_writer_keeps_anchors_deep_in_a_long_history(open_backend: Callable[..., Any]) -> None:
    a, b = open_backend(), open_backend()
    s = Manager(a).create("assistant", sid())
    for i in range(100):
        a.append(s.id, f"e{i}", EntryType.METADATA, {"i": i}, utcnow())
    early = s.checkpoint()
    for i in range(100, 700):
        a.append(s.id, f"e{i}", EntryType.METADATA, {"i": i}, utcnow())
    by_b = b.create_checkpoint(s.id, "cp-by-b", {}, utcnow())  # made by another instance, at seq 700
    for i in range(700, 1000):
        a.append(s.id, f"e{i}", EntryType.METADATA, {"i": i}, utcnow())
    calls = record_scripts(a)
    s.restore(early.id)  # the writer's own checkpoint stays verified however long the history grew
    assert calls.names() == ["restore"]
    s.restore(by_b.id)  # not verified here: re-hashed from the writer's anchor at seq 512, not from the root
    (chain,) = calls.replies("chain")
    assert (chain[1], int(chain[3]), len(chain[4])) == (b"e511", 512, 188)
    assert [e.seq for e in s.get_entries(limit=1)] == [700]


def test_tampering_after_the_last_verified_entry_is_caught(open_backend: Callable[..., Any]) -> None:
    a, b = open_backend(), open_backend()
    s = Manager(a).create("assistant", sid())
    for i in range(5):
        s.append_message("user", str(i))
    cp1 = s.checkpoint()
    Manager(b).get(s.id).restore(cp1.id)
    late = s.append_message("user", "late")
    cp2 = s.checkpoint()
    hist = a.keys_of(s.id)[1]
    raw = a.client
    raw.lset(hist, late.seq - 1, raw.lindex(hist, late.seq - 1).replace(b'"late"', b'"LATE"'))
    with pytest.raises(ChecksumMismatchError):
        Manager(b).get(s.id).restore(cp2.id)


# -- leases ---------------------------------------------------------------------------------------------


def test_expired_holder_cannot_extend_or_release_the_new_lease(open_backend: Callable[..., Any]) -> None:
    a, b = Manager(open_backend()), Manager(open_backend())
    s = a.create("assistant", sid())
    first = s.lease(ttl=0.2)
    lease_key = a.backend.keys_of(s.id)[5]  # type: ignore[attr-defined]
    assert 0 < a.backend.client.pttl(lease_key) <= 200  # type: ignore[attr-defined]
    time.sleep(0.3)  # the first holder stalls past its ttl
    second = b.get(s.id).lease(ttl=10, wait=0)
    with pytest.raises(SessionBusyError, match="lost"):
        first.extend()
    first.release()  # compare-and-delete: a no-op now
    with pytest.raises(SessionBusyError):
        s.lease(ttl=10, wait=0)
    second.extend(ttl=20)
    assert a.backend.client.pttl(lease_key) > 10_000  # type: ignore[attr-defined]
    second.release()
    s.lease(ttl=10, wait=0).release()


def test_a_turn_whose_lease_expired_cannot_write_after_the_next_holder(open_backend: Callable[..., Any]) -> None:
    """Fencing: the stalled holder's writes are refused inside the scripts once its lease key expired,
    whether or not another node took the lease since."""
    a, b = Manager(open_backend()), Manager(open_backend())
    s = a.create("assistant", sid())
    stalled = s.lease(ttl=30)
    stalled.session.append_message("user", "A")
    cp = stalled.session.checkpoint()
    lease_key = a.backend.keys_of(s.id)[5]  # type: ignore[attr-defined]
    a.backend.client.delete(lease_key)  # type: ignore[attr-defined]  # what its expiry does
    with pytest.raises(LeaseLostError):
        stalled.session.append_message("assistant", "answer A")
    with b.get(s.id).lease(ttl=30, wait=0) as next_turn:
        next_turn.session.append_message("user", "B")
        for write in (
            lambda: stalled.session.append_message("assistant", "answer A"),
            stalled.session.checkpoint,
            lambda: stalled.session.restore(cp.id),
        ):
            with pytest.raises(LeaseLostError):
                write()
        next_turn.session.append_message("assistant", "answer B")
    assert [e.data["content"] for e in s.get_entries()] == ["A", "B", "answer B"]


def test_crashed_holder_blocks_only_until_its_ttl(open_backend: Callable[..., Any]) -> None:
    mgr = Manager(open_backend())
    s = mgr.create("assistant", sid())
    s.lease(ttl=0.3)  # never released: its holder "crashed"
    started = time.monotonic()
    with s.lease(ttl=10, wait=60):  # a lease that never expired would make this fail after 60 s
        waited = time.monotonic() - started
    assert waited > 0.15  # not before the ttl ran out (a lower bound: a loaded machine only makes it longer)


def test_lease_on_missing_session(open_backend: Callable[..., Any]) -> None:
    with pytest.raises(SessionNotFoundError):
        Manager(open_backend()).backend.try_lease("nobody", 10)


def test_lease_argument_checks(open_backend: Callable[..., Any]) -> None:
    s = Manager(open_backend()).create("assistant", sid())
    with pytest.raises(ValueError, match="ttl"):
        s.lease(ttl=0)
    with pytest.raises(ValueError, match="wait"):
        s.lease(ttl=1, wait=-1)


def test_deleting_a_session_drops_its_lease(open_backend: Callable[..., Any]) -> None:
    mgr = Manager(open_backend())
    s = mgr.create("assistant", "leased")
    lease = s.lease(ttl=60)
    assert mgr.delete("leased")
    lease.release()
    again = mgr.create("assistant", "leased")
    with again.lease(ttl=10, wait=0):
        pass


# -- faults --------------------------------------------------------------------------------------------


def test_wrong_password_is_a_clear_error_without_the_password() -> None:
    require_redis_server()
    mod = backend_module()
    with RedisServer(password="right-horse-battery") as srv:
        for target, options in [
            (srv.address, mod.RedisOptions(password="wrong-staple-secret", retries=0)),
            (f"redis://:wrong-staple-secret@127.0.0.1:{srv.port}/0", mod.RedisOptions(retries=0)),
            (srv.address, mod.RedisOptions(retries=0)),  # no password at all
        ]:
            backend = mod.RedisBackend(target, options)
            with pytest.raises(AixgoError) as err:
                Manager(backend).list()
            message = str(err.value)
            assert isinstance(err.value, StoreConnectionError)
            assert err.value.address is not None and f"127.0.0.1:{srv.port}" in err.value.address
            assert f"127.0.0.1:{srv.port}" in message
            assert "password" in message
            assert "wrong-staple-secret" not in message and "right-horse-battery" not in message
            assert "wrong-staple-secret" not in repr(backend) + repr(options)
            backend.close()
        for target, options in [
            (srv.address, mod.RedisOptions(password="right-horse-battery")),
            (f"redis://:right-horse-battery@127.0.0.1:{srv.port}/0", None),
        ]:
            with Manager(mod.RedisBackend(target, options)) as mgr:
                s = mgr.get_or_create("assistant", "authed")
                s.append_message("user", "x")


def test_server_killed_mid_run_then_restarted() -> None:
    """SIGKILL the server while a writer appends; it sees clear connection errors and retries each entry
    (same id) until the server is back; afterwards nothing is missing and nothing is duplicated."""
    require_redis_server()
    mod = backend_module()
    with RedisServer(persistent=True, password="pw-kill-test") as srv:
        options = mod.RedisOptions(
            password="pw-kill-test", retries=1, socket_timeout=1.0, connect_timeout=0.5
        )
        backend = mod.RedisBackend(srv.address, options)
        mgr = Manager(backend)
        s = mgr.create("assistant", "crashy")
        errors: list[BaseException] = []
        acknowledged: list[str] = []
        stop = threading.Event()
        total = 400

        def writer() -> None:
            for i in range(total):
                entry_id = f"e_{i:04d}"
                while not stop.is_set():
                    try:
                        s.append_entry(
                            EntryType.MESSAGE, {"role": "user", "content": str(i)}, entry_id=entry_id
                        )
                        acknowledged.append(entry_id)
                        break
                    except StoreConnectionError as exc:
                        errors.append(exc)
                        time.sleep(0.02)
                if i == 100:
                    started.set()

        started = threading.Event()
        thread = threading.Thread(target=writer)
        thread.start()
        assert started.wait(20)
        srv.kill()
        with pytest.raises(StoreConnectionError) as err:
            mgr.get("crashy")
        assert f"127.0.0.1:{srv.port}" in str(err.value) and "pw-kill-test" not in str(err.value)
        time.sleep(0.3)
        srv.start()
        thread.join(timeout=60)
        stop.set()
        assert not thread.is_alive()
        assert errors, "the writer never noticed the crash"
        assert all(isinstance(e, StoreConnectionError) and "pw-kill-test" not in str(e) for e in errors)
        assert all(f"127.0.0.1:{srv.port}" in str(e) for e in errors)
        assert acknowledged == [f"e_{i:04d}" for i in range(total)]
        history = s.get_entries()
        assert [e.id for e in history] == acknowledged
        assert [e.seq for e in history] == list(range(1, total + 1))
        assert len(s.all_entries()) == total
        assert s.info.message_count == total
        mgr.close()


# -- construction, URLs, lifecycle -------------------------------------------------------------------------


def test_injected_client_is_used_and_not_closed(server: RedisServer, prefix: str) -> None:
    mod = backend_module()
    for decode, protocol in ((False, 2), (True, 2), (False, 3), (True, 3)):
        client = server.client(decode_responses=decode, protocol=protocol)
        backend = mod.RedisBackend(client, mod.RedisOptions(key_prefix=prefix))
        assert backend.address == server.address
        mgr = Manager(backend)
        s = mgr.create("assistant", f"injected-{decode}-{protocol}", metadata={"m": "✓"})
        s.append_message("user", "x ✓")
        cp = s.checkpoint()
        s.append_message("user", "y")
        s.restore(cp.id)
        assert [e.data["content"] for e in s.get_entries()] == ["x ✓"]
        assert len(s.all_entries()) == 2
        assert mgr.get(s.id).info.metadata == {"m": "✓"}
        assert s.checkpoints() == [cp]
        mgr.close()
        assert client.ping() is True  # still open
        with pytest.raises(StoreClosedError):
            backend.history(s.id, history_range(None, None, None))
        client.close()


def test_url_forms(server: RedisServer, prefix: str) -> None:
    mod = backend_module()
    targets = [
        server.address,
        f"localhost:{server.port}",
        f"redis://127.0.0.1:{server.port}",
        f"redis://127.0.0.1:{server.port}/0",
        f"redis://localhost:{server.port}/?socket_timeout=2",
    ]
    for i, target in enumerate(targets):
        with Manager(mod.RedisBackend(target, mod.RedisOptions(key_prefix=prefix))) as mgr:
            mgr.create("assistant", f"url-{i}")
            assert len(mgr.list()) == i + 1
    # the database: from the URL path, else from the options
    with Manager(
        mod.RedisBackend(f"redis://127.0.0.1:{server.port}/3", mod.RedisOptions(key_prefix=prefix))
    ) as mgr:
        mgr.create("assistant", "in-db-3")
    with Manager(mod.RedisBackend(server.address, mod.RedisOptions(key_prefix=prefix, db=3))) as mgr:
        assert [i.id for i in mgr.list()] == ["in-db-3"]
    with Manager(mod.RedisBackend(server.address, mod.RedisOptions(key_prefix=prefix))) as mgr:
        assert "in-db-3" not in [i.id for i in mgr.list()]


def test_unix_socket_url(tmp_path: Path) -> None:
    require_redis_server()
    mod = backend_module()
    sock = Path(f"/tmp/aixgo-{uuid.uuid4().hex[:8]}.sock")  # short: unix socket paths are limited
    try:
        with RedisServer(extra_args=["--unixsocket", str(sock), "--unixsocketperm", "700"]):
            backend = mod.RedisBackend(f"unix://{sock}")
            assert backend.address == f"unix://{sock}"
            with Manager(backend) as mgr:
                mgr.create("assistant", "over-unix").append_message("user", "x")
                assert mgr.get("over-unix").info.message_count == 1
    finally:
        sock.unlink(missing_ok=True)


def test_addresses_are_described_without_passwords() -> None:
    require_redis_py()
    mod = backend_module()
    cases = {
        "localhost:6380": "localhost:6380",
        "example.invalid": "example.invalid:6379",
        "[::1]:6390": "[::1]:6390",
        "redis://:s3cret@cache.internal:6381/2": "redis://cache.internal:6381/2",
        "redis://user:s3cret@cache.internal/": "redis://cache.internal:6379",
        "rediss://:s3cret@cache.internal:6390": "rediss://cache.internal:6390",
    }
    for target, address in cases.items():
        backend = mod.RedisBackend(target)  # connects lazily: nothing is contacted here
        assert backend.address == address
        assert "s3cret" not in repr(backend)
        backend.close()
    tls = mod.RedisBackend("rediss://cache.internal:6390")
    assert tls._conn._pool.connection_class is redis.SSLConnection
    tls.close()


@pytest.mark.parametrize(
    "target",
    ["http://localhost:6379", "host:port", "host:70000", "", "[::1", "redis://:s3cret@host:notaport/0"],
)
def test_bad_targets(target: str) -> None:
    require_redis_py()
    with pytest.raises(ValueError, match="not a Redis address") as err:
        backend_module().RedisBackend(target)
    assert "s3cret" not in str(err.value)


def test_option_checks() -> None:
    require_redis_py()
    mod = backend_module()
    with pytest.raises(ValueError, match="key_prefix"):
        mod.RedisOptions(key_prefix="app:{x}:")
    with pytest.raises(ValueError, match="ttl"):
        mod.RedisOptions(ttl=timedelta(0))
    with pytest.raises(ValueError, match="pool_size"):
        mod.RedisOptions(pool_size=0)
    with pytest.raises(ValueError, match="retries"):
        mod.RedisOptions(retries=-1)
    assert "hunter2" not in repr(mod.RedisOptions(password="hunter2"))


def test_closed_backend_refuses_every_call(open_backend: Callable[..., Any]) -> None:
    backend = open_backend()
    backend.create_session(Header("c", "assistant", None, utcnow(), {}))
    lease = backend.try_lease("c", 10)
    backend.close()
    backend.close()
    calls: list[Callable[[], Any]] = [
        lambda: backend.create_session(Header("d", "assistant", None, utcnow(), {})),
        lambda: backend.get_info("c"),
        lambda: list(backend.list_sessions()),
        lambda: backend.delete_session("c"),
        lambda: backend.append("c", "e", EntryType.MESSAGE, {}, datetime.now(UTC)),
        lambda: backend.history("c", history_range(None, None, None)),
        lambda: backend.all_entries("c"),
        lambda: backend.create_checkpoint("c", "cp", {}, utcnow()),
        lambda: backend.list_checkpoints("c"),
        lambda: backend.restore("c", "cp", utcnow()),
        lambda: backend.try_lease("c", 10),
        lease.extend,
    ]
    for call in calls:
        with pytest.raises(StoreClosedError):
            call()


def test_newer_format_version_is_refused(open_backend: Callable[..., Any]) -> None:
    backend = open_backend()
    s = Manager(backend).create("assistant", "future")
    Manager(backend).create("assistant", "present")
    backend.client.hset(backend.keys_of("future")[0], "v", 99)
    for call in (
        lambda: Manager(open_backend()).get("future"),
        lambda: s.append_message("user", "x"),
        s.get_entries,
    ):
        with pytest.raises(UnsupportedVersionError, match="upgrade aixgo"):
            call()
    # listing names it and lists the rest (a rolling upgrade must not stop older nodes from listing)
    listed = {i.id: i for i in Manager(open_backend()).list()}
    assert listed["present"].damage is None
    assert "upgrade aixgo" in (listed["future"].damage or "")


def test_index_drops_members_of_vanished_sessions_but_not_recreated_ones(
    open_backend: Callable[..., Any],
) -> None:
    backend = open_backend()
    mgr = Manager(backend)
    for name in ("a", "b"):
        mgr.create("assistant", name)
    raw = backend.client
    raw.delete(*backend.keys_of("a"))  # as if it expired
    assert [i.id for i in mgr.list()] == ["b"]
    index = backend.options.key_prefix + "agent:assistant"
    assert raw.zrange(index, 0, -1) == [b"b"]
    # a member seen missing is kept if the session was re-created meanwhile (new score)
    raw.zadd(index, {"c": 1.0})
    mgr.create("assistant", "c")
    assert sorted(i.id for i in mgr.list()) == ["b", "c"]
    backend._script(SCRIPTS["index_forget"], [index], ["c", "1"])
    assert raw.zscore(index, "c") is not None


def test_create_for_another_agent_leaves_no_index_entry(open_backend: Callable[..., Any]) -> None:
    backend = open_backend()
    mgr = Manager(backend)
    mgr.create("alpha", "taken")
    with pytest.raises(SessionExistsError, match="alpha"):
        backend.create_session(Header("taken", "beta", None, utcnow(), {}))
    assert backend.client.zcard(backend.options.key_prefix + "agent:beta") == 0
    assert [i.agent for i in mgr.list()] == ["alpha"]


def test_missing_redis_package_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from aixgo.errors import MissingDependencyError\n"
        "from aixgo import session\n"
        "opts = session.RedisOptions()\n"
        "try:\n"
        "    session.RedisBackend('localhost:6379', opts)\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=os.getcwd()
    )
    assert "pip install -e '.[redis]'" in out.stdout and "not published on PyPI" in out.stdout


def test_backend_satisfies_the_protocol(open_backend: Callable[..., Any]) -> None:
    backend: Backend = open_backend()
    lease = None
    backend.create_session(Header("proto", "assistant", None, utcnow(), {}))
    from aixgo.session import Lease

    lease = backend.try_lease("proto", 5)
    assert isinstance(lease, Lease)
    lease.release()
