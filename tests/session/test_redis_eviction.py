"""Eviction must not corrupt sessions silently (issue: with maxmemory 3mb and allkeys-lru, 40 of 150
sessions kept their count with an empty history, the next append became history[0], restore failed).

A server that may evict is refused at the first command, with the setting and the fix; a user who
opts in (``allow_eviction``) gets every partly evicted session reported as damaged, never served
half. Real redis-server processes with a 3 MB limit."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from aixgo.errors import SessionCorruptedError, SessionNotFoundError, StoreError
from aixgo.session import EntryType, Manager, RedisBackend, RedisOptions
from aixgo.session.core import history_range
from aixgo.session.core.codec import utcnow
from tests.session.redis_server import RedisServer, require_redis_server

pytestmark = pytest.mark.redis

LIMITED = ["--maxmemory", "3mb", "--maxmemory-policy", "allkeys-lru"]


def test_a_server_that_may_evict_is_refused() -> None:
    require_redis_server()
    with RedisServer(extra_args=LIMITED) as redis, Manager(RedisBackend(redis.url)) as manager:
        with pytest.raises(StoreError) as caught:
            manager.get_or_create("assistant", "s1")
        text = str(caught.value)
        assert "maxmemory-policy is allkeys-lru" in text and "noeviction" in text and "allow_eviction" in text
        done = subprocess.run([sys.executable, "-m", "aixgo", "sessions", "--redis-url", redis.url, "list"],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1 and "maxmemory-policy" in done.stderr and "Traceback" not in done.stderr


def test_noeviction_or_no_limit_is_fine() -> None:
    require_redis_server()
    for args in (["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"], ["--maxmemory-policy", "allkeys-lru"]):
        with RedisServer(extra_args=args) as redis, Manager(RedisBackend(redis.url)) as manager:
            manager.get_or_create("assistant", "s1").append_message("user", "hi")


def test_opted_in_eviction_is_reported_as_damage_never_served_half() -> None:
    require_redis_server()
    with RedisServer(extra_args=LIMITED) as redis, Manager(
        RedisBackend(redis.url, RedisOptions(allow_eviction=True))
    ) as manager:
        filler = "x" * 2000
        written: dict[int, int] = {}
        refused = 0
        for number in range(150):
            session = manager.get_or_create("assistant", f"s{number}")
            written[number] = 0
            try:
                for turn in range(10):
                    session.append_message("user", f"{turn} {filler}")
                    session.append_message("assistant", f"{turn} ok")
                    written[number] += 2
            except SessionCorruptedError as exc:
                # The session was partly evicted while it was being written: the append is refused
                # (it must not become history[0] of a headless list), and the damage is named.
                assert "evicted" in str(exc)
                refused += 1
            except SessionNotFoundError:
                refused += 1  # every key of it evicted between two appends: nothing served half
        whole = damaged = gone = 0
        for number in range(150):
            try:
                session = manager.get(f"s{number}")
                entries = session.get_entries()
            except SessionCorruptedError as exc:
                damaged += 1
                assert "evicted" in str(exc)
                continue
            except SessionNotFoundError:
                gone += 1
                continue
            # whole and gapless (everything that was written), or not served at all
            assert [e.seq for e in entries] == list(range(1, written[number] + 1))
            whole += 1
        assert damaged + gone + refused > 0 and whole > 0  # eviction happened, and was never served half


# -- one key of a session gone: what eviction does, key by key (issue 21, item 5) ----------------------


@pytest.fixture
def evicting(server: RedisServer, prefix: str) -> Iterator[Manager]:
    """A store that accepted eviction (``allow_eviction``), on the module's server."""
    with Manager(RedisBackend(server.url, RedisOptions(key_prefix=prefix, allow_eviction=True))) as mgr:
        yield mgr


def _seeded(mgr: Manager, session_id: str) -> list[str]:
    """A session with a branch and a checkpoint (every key of it filled); returns its keys."""
    s = mgr.create("assistant", session_id)
    s.append_message("user", "one", entry_id="e1")
    cp = s.checkpoint()
    s.append_message("assistant", "abandoned", entry_id="e2")
    s.restore(cp.id)
    s.append_message("assistant", "two", entry_id="e3")
    backend = mgr.backend
    assert isinstance(backend, RedisBackend)
    return backend.keys_of(session_id)


KEY_NAMES = ["meta", "hist", "ent", "gone", "cps"]


@pytest.mark.parametrize("lost", KEY_NAMES)
def test_a_session_missing_one_key_is_damaged_everywhere_and_takes_no_write(evicting: Manager, lost: str) -> None:
    keys = _seeded(evicting, f"lost-{lost}")
    backend = evicting.backend
    assert isinstance(backend, RedisBackend)
    backend.client.delete(keys[KEY_NAMES.index(lost)])  # what evicting that key does
    session_id = f"lost-{lost}"
    listed = {info.id: info for info in evicting.list()}
    assert session_id in listed, "the session vanished from list"
    assert listed[session_id].damage is not None and "evicted" in listed[session_id].damage
    for read in (
        lambda: evicting.get(session_id),
        lambda: backend.get_info(session_id),
        lambda: backend.history(session_id, history_range(None, None, None)),
        lambda: backend.all_entries(session_id),
        lambda: backend.snapshot(session_id),
        lambda: backend.list_checkpoints(session_id),
    ):
        with pytest.raises(SessionCorruptedError, match="evicted"):
            read()
    for write in (
        lambda: backend.append(session_id, "e1", EntryType.MESSAGE, {"role": "user", "content": "one"}, utcnow()),
        lambda: backend.append(session_id, "e9", EntryType.MESSAGE, {"role": "user", "content": "new"}, utcnow()),
        lambda: backend.create_checkpoint(session_id, "cp-x", {}, utcnow()),
    ):
        with pytest.raises(SessionCorruptedError, match="evicted"):
            write()
    assert evicting.delete(session_id)  # what is left can be deleted
    assert session_id not in [info.id for info in evicting.list()]


def test_a_session_whose_every_key_was_evicted_stays_listed_until_deleted(evicting: Manager) -> None:
    """A session that was only its header (no entries yet), evicted: nothing of it is left but its place in
    the agent's index. It is listed as damaged (not silently gone) until deleted."""
    evicting.create("assistant", "header-only")
    backend = evicting.backend
    assert isinstance(backend, RedisBackend)
    backend.client.delete(backend.keys_of("header-only")[0])
    listed = {info.id: info for info in evicting.list()}
    assert listed["header-only"].damage is not None and "evicted" in listed["header-only"].damage
    assert evicting.delete("header-only") is False  # nothing was left to delete…
    assert "header-only" not in [info.id for info in evicting.list()]  # …but it is forgotten


def test_a_retried_id_is_never_stored_twice_when_the_entry_records_were_evicted(evicting: Manager) -> None:
    keys = _seeded(evicting, "no-ent")
    backend = evicting.backend
    assert isinstance(backend, RedisBackend)
    backend.client.delete(keys[2])
    with pytest.raises(SessionCorruptedError):
        evicting.get("no-ent")
    with pytest.raises(SessionCorruptedError):
        backend.append("no-ent", "e3", EntryType.MESSAGE, {"role": "assistant", "content": "two"}, utcnow())
    assert backend.client.llen(keys[1]) == 2  # nothing appended


def test_an_eviction_policy_set_on_a_running_server_is_noticed() -> None:
    """The policy is checked again while the store runs (at most every POLICY_CHECK_INTERVAL seconds; here
    before every command), and a server that may now evict is refused as at start."""
    require_redis_server()
    with RedisServer(extra_args=["--maxmemory", "64mb"]) as redis:
        quick = RedisBackend(redis.url)
        quick._conn.policy_check_interval = 0
        with Manager(quick) as manager:
            session = manager.get_or_create("assistant", "s1")
            session.append_message("user", "before")
            redis.client().config_set("maxmemory-policy", "allkeys-lru")
            with pytest.raises(StoreError, match="maxmemory-policy is allkeys-lru"):
                session.append_message("user", "after")
            with pytest.raises(StoreError, match="maxmemory-policy is allkeys-lru"):
                manager.list()
            redis.client().config_set("maxmemory-policy", "noeviction")
            session.append_message("user", "fixed")
            assert [e.data["content"] for e in session.get_entries()] == ["before", "fixed"]


def test_the_policy_is_checked_cheaply() -> None:
    require_redis_server()
    with RedisServer() as redis, Manager(RedisBackend(redis.url)) as mgr:  # checked every 30 s at most
        session = mgr.create("assistant", "s1")
        for i in range(50):
            session.append_message("user", str(i))
            session.get_entries()
        stats = redis.client().info("commandstats")
        config_gets = stats.get("cmdstat_config|get") or stats["cmdstat_config"]
        assert config_gets["calls"] == 1
