"""The Redis store on a real multi-node Redis Cluster (3 masters on free ports, joined with
``redis-cli --cluster create``): the whole contract suite, listing across nodes, the CLI, and an
injected ``RedisCluster`` client (the first version failed on its very first call there)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aixgo.session import Manager
from tests.session.contract import BackendContract, MakeBackend
from tests.session.redis_cluster import RedisClusterNodes
from tests.session.redis_server import backend_factory, tamper_redis_entry

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterNodes]:
    with RedisClusterNodes(masters=3) as nodes:
        yield nodes


@pytest.fixture
def open_cluster_backend(cluster: RedisClusterNodes) -> Iterator[Callable[..., Any]]:
    """As the single-node suite's ``open_backend``, on the cluster (``cluster=True`` for an address)."""
    in_cluster_mode = lambda target: target is None or isinstance(target, str)  # noqa: E731 - a default per target
    with backend_factory(cluster.address, f"t{uuid.uuid4().hex[:8]}:", cluster=in_cluster_mode) as make:
        yield make


class TestRedisClusterContract(BackendContract):
    @pytest.fixture
    def make_backend(self, open_cluster_backend: Callable[..., Any]) -> MakeBackend:
        return open_cluster_backend

    def tamper_entry(self, make_backend: MakeBackend, session_id: str, entry_id: str) -> None:
        tamper_redis_entry(make_backend(), session_id, entry_id)


def test_an_injected_cluster_client_works_from_the_first_call(cluster: RedisClusterNodes) -> None:
    from redis.crc import key_slot

    from aixgo.session import RedisBackend, RedisOptions

    client = cluster.client()
    backend = RedisBackend(client, RedisOptions(key_prefix="inj:"))
    with Manager(backend) as manager:
        slots = set()
        for number in range(30):
            session = manager.get_or_create("assistant", f"s{number}")
            session.append_message("user", f"hello {number}")
            slots.add(key_slot(backend.keys_of(session.id)[0].encode()))
        owners = {client.nodes_manager.get_node_from_slot(slot).port for slot in slots}
        assert len(owners) == 3  # the sessions really live on every node
        assert sorted(info.id for info in manager.list(agent="assistant")) == sorted(f"s{n}" for n in range(30))
        with pytest.raises(Exception) as caught:
            manager.get("nope")
        assert "<redis" not in str(caught.value) and "127.0.0.1:" in str(caught.value)  # host:port, not a repr
    client.close()


def test_the_cli_on_a_cluster(cluster: RedisClusterNodes) -> None:
    def aixgo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aixgo", "sessions", "--redis-url", cluster.address,
                               "--redis-cluster", *args], capture_output=True, text=True, timeout=60, check=False)

    from aixgo.session import RedisBackend, RedisOptions

    with Manager(RedisBackend(cluster.address, RedisOptions(cluster=True))) as manager:
        manager.get_or_create("assistant", "cli-1").append_message("user", "hi")
    listed = aixgo("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "cli-1" in [item["id"] for item in json.loads(listed.stdout)]
    assert aixgo("delete", "cli-1", "--yes").returncode == 0
