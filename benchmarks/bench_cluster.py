"""Redis Cluster under load: N processes x M sessions appending, on a real 3-master cluster beside
the same workload on one Redis node (both started here, on loopback). Appends/s and per-append
p50/p99 (ms)."""

from __future__ import annotations

import multiprocessing
import statistics
import time
from typing import Any

from benchmarks.harness import header, note, percentile
from tests.session.redis_cluster import RedisClusterNodes
from tests.session.redis_server import RedisServer

PROCESSES, SESSIONS, APPENDS = 4, 25, 40


def _worker(address: str, cluster: bool, worker: int, results: Any) -> None:
    from aixgo.session import Manager, RedisBackend, RedisOptions

    with Manager(RedisBackend(address, RedisOptions(cluster=cluster, key_prefix="bench:"))) as manager:
        sessions = [manager.get_or_create("bench", f"w{worker}-s{n}") for n in range(SESSIONS)]
        times = []
        for turn in range(APPENDS):
            for session in sessions:
                started = time.perf_counter()
                session.append_message("user", f"turn {turn} of a benchmark conversation")
                times.append(time.perf_counter() - started)
        results.put(times)


def _run(address: str, cluster: bool) -> tuple[list[float], float]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_worker, args=(address, cluster, n, results)) for n in range(PROCESSES)]
    started = time.perf_counter()
    for process in workers:
        process.start()
    times = [t for _ in workers for t in results.get(timeout=300)]
    wall = time.perf_counter() - started
    for process in workers:
        process.join()
    return times, wall


def run() -> None:
    header(f"Redis Cluster: {PROCESSES} processes x {SESSIONS} sessions x {APPENDS} appends")
    print(f"  {'':<58} {'n':>6} {'p50 ms':>9} {'p99 ms':>9}   appends/s")
    rows = {}
    with RedisServer() as single:
        rows["one Redis node"] = _run(single.address, False)
    with RedisClusterNodes(masters=3, persistent=False) as cluster:  # like the single node: no AOF
        rows["3-master cluster"] = _run(cluster.address, True)
    for name, (times, wall) in rows.items():
        p50, p99 = statistics.median(times) * 1000, percentile(times, 99) * 1000
        print(f"  {name:<58} {len(times):>6} {p50:>9.3f} {p99:>9.3f}   {len(times) / wall:>9.0f}")
    note("appends/s counts process start-up and session creation too; on 2 cores the client processes, "
         "not the servers, are the limit")


if __name__ == "__main__":
    run()
