"""A real multi-node Redis Cluster for tests: N masters (and replicas), each a ``redis-server`` on a
free loopback port, joined with ``redis-cli --cluster create``."""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

from tests.session.redis_server import RedisServer, _missing, require_redis_server

REDIS_CLI = shutil.which("redis-cli")


def require_redis_cli() -> str:
    require_redis_server()
    if REDIS_CLI is None:
        _missing("redis-cli is not installed (apt-get install redis-tools)")
    assert REDIS_CLI is not None
    return REDIS_CLI


class RedisClusterNodes:
    """``masters`` masters with ``replicas`` replicas each; ``address`` is the first node's."""

    def __init__(
        self, masters: int = 3, replicas: int = 0, *, node_timeout_ms: int = 1000, persistent: bool = True
    ) -> None:
        self.cli = require_redis_cli()
        args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(node_timeout_ms), "--cluster-replica-validity-factor", "0"]
        # persistent: AOF with appendfsync always on every node (what the failover tests want)
        self.nodes = [RedisServer(extra_args=args, persistent=persistent) for _ in range(masters * (1 + replicas))]
        self.replicas = replicas

    @property
    def address(self) -> str:
        return self.nodes[0].address

    def start(self) -> RedisClusterNodes:
        for node in self.nodes:
            node.start()
        create = [self.cli, "--cluster", "create", *(n.address for n in self.nodes),
                  "--cluster-replicas", str(self.replicas), "--cluster-yes"]
        done = subprocess.run(create, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout[-1500:]}{done.stderr[-500:]}")
        self.wait_ok()
        self.wait_replicas_online()
        return self

    def wait_replicas_online(self, timeout: float = 30) -> None:
        """Until every master has its replicas connected and in sync (``state=online``)."""
        if not self.replicas:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            online = 0
            for node in self.nodes:
                info = node.client().info("replication")
                if info.get("role") == "master":
                    replicas = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
                    online += sum(1 for r in replicas if r.get("state") == "online")
            if online >= len(self.nodes) - len(self.nodes) // (1 + self.replicas):
                return
            time.sleep(0.1)
        raise RuntimeError("the replicas did not come online")

    def wait_ok(self, timeout: float = 30) -> None:
        """Until every live node says ``cluster_state:ok``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = []
            for node in self.nodes:
                if node.proc is None or node.proc.poll() is not None:
                    continue
                try:
                    states.append(b"cluster_state:ok" in node.client().execute_command("CLUSTER", "INFO"))
                except Exception:  # a node still starting
                    states.append(False)
            if states and all(states):
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster did not reach cluster_state:ok")

    def node_of(self, port: int) -> RedisServer:
        return next(node for node in self.nodes if node.port == port)

    def client(self) -> Any:
        import redis.cluster

        return redis.cluster.RedisCluster(host="127.0.0.1", port=self.nodes[0].port)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
            node.cleanup()

    def __enter__(self) -> RedisClusterNodes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
