"""Failover on a real Redis Cluster: 3 masters + 3 replicas (AOF on). The master holding a busy
session is SIGKILLed while a writer appends; writes resume once its replica is promoted, retried
appends (same entry id) are never stored twice, and every session opens with a gapless history.
With ``min_replica_acks=1`` no acknowledged append is lost across the failover."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from aixgo.errors import AixgoError
from aixgo.session import EntryType, Manager, RedisBackend, RedisOptions
from tests.session.redis_cluster import RedisClusterNodes

pytestmark = [pytest.mark.redis, pytest.mark.slow]

APPENDS = 120
KILL_AT = 40


def _append_until_stored(session: object, entry_id: str, number: int, deadline: float) -> None:
    while True:
        try:
            session.append_entry(EntryType.MESSAGE, {"role": "user", "content": f"m{number}"},  # type: ignore[attr-defined]
                                 entry_id=entry_id)
            return
        except AixgoError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # the failover is under way: the same entry id again


@pytest.mark.parametrize("acks", [0, 1])
def test_writes_resume_after_the_master_is_killed(acks: int) -> None:
    with RedisClusterNodes(masters=3, replicas=1) as cluster:
        options = RedisOptions(cluster=True, min_replica_acks=acks, retries=1, socket_timeout=1.0,
                               connect_timeout=0.5, replica_ack_timeout=2.0)
        with Manager(RedisBackend(cluster.address, options)) as manager:
            others = [manager.get_or_create("assistant", f"other-{n}") for n in range(12)]
            for number, other in enumerate(others):
                other.append_message("user", f"hello {number}")
            busy = manager.get_or_create("assistant", "busy")
            backend = manager.backend
            key = backend.keys_of("busy")[0]  # type: ignore[attr-defined]
            master_port = backend.client.get_node_from_key(key).port  # type: ignore[attr-defined]
            acknowledged: list[str] = []
            failure: list[BaseException] = []
            killed = threading.Event()
            restarts: list[threading.Timer] = []
            restart_errors: list[BaseException] = []

            def restart(node: object) -> None:
                try:
                    node.start()  # type: ignore[attr-defined]
                except BaseException as exc:  # reported below
                    restart_errors.append(exc)

            def writer() -> None:
                try:
                    deadline = time.monotonic() + 60
                    for number in range(APPENDS):
                        entry_id = f"e{number:04d}-{uuid.uuid4().hex[:6]}"
                        _append_until_stored(busy, entry_id, number, deadline)
                        acknowledged.append(entry_id)
                        if number == KILL_AT:
                            victim = cluster.node_of(master_port)
                            victim.kill()
                            killed.set()
                            # as an operator would, bring the dead node back: it rejoins as a replica of
                            # the promoted one (with min_replica_acks=1, writes wait for it)
                            restarts.append(threading.Timer(3.0, restart, args=(victim,)))
                            restarts[-1].start()
                except BaseException as exc:  # reported below
                    failure.append(exc)

            thread = threading.Thread(target=writer)
            thread.start()
            thread.join(timeout=120)
            for timer in restarts:
                timer.join()
            assert not restart_errors, restart_errors
            assert killed.is_set() and not failure, failure
            assert len(acknowledged) == APPENDS  # writes resumed after the promotion
            entries = busy.get_entries()
            ids = [e.id for e in entries]
            assert [e.seq for e in entries] == list(range(1, len(entries) + 1))  # gapless
            assert len(ids) == len(set(ids))  # no retried append stored twice
            if acks:
                assert set(acknowledged) <= set(ids)  # nothing acknowledged was lost
            else:
                assert len(set(acknowledged) - set(ids)) <= 3  # asynchronous replication: at most the last few
            for number, other in enumerate(others):  # every session opens, whole
                reopened = manager.get(other.id).get_entries()
                assert [e.data["content"] for e in reopened] == [f"hello {number}"]
