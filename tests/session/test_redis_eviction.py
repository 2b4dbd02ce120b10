"""Eviction must not corrupt sessions silently (issue: with maxmemory 3mb and allkeys-lru, 40 of 150
sessions kept their count with an empty history, the next append became history[0], restore failed).

A server that may evict is refused at the first command, with the setting and the fix; a user who
opts in (``allow_eviction``) gets every partly evicted session reported as damaged, never served
half. Real redis-server processes with a 3 MB limit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aixgo.errors import SessionCorruptedError, SessionNotFoundError, StoreError
from aixgo.session import Manager, RedisBackend, RedisOptions
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
