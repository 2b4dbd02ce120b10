"""Run every benchmark: ``python -m benchmarks [name ...]`` (names: file, cold, redis, postgres, runtime, llm, context, serve, cluster, mcp, ids, tracing, console, startup)."""

from __future__ import annotations

import importlib
import os
import platform
import sys

from benchmarks import harness

SUITES = {
    "file": "benchmarks.bench_file",
    "cold": "benchmarks.bench_cold",
    "redis": "benchmarks.bench_redis",
    "postgres": "benchmarks.bench_postgres",
    "runtime": "benchmarks.bench_runtime",
    "llm": "benchmarks.bench_llm",
    "context": "benchmarks.bench_context",
    "serve": "benchmarks.bench_serve",
    "cluster": "benchmarks.bench_cluster",
    "mcp": "benchmarks.bench_mcp",
    "ids": "benchmarks.bench_ids",
    "tracing": "benchmarks.bench_tracing",
    "console": "benchmarks.bench_console",
    "startup": "benchmarks.bench_startup",
}


def main(argv: list[str]) -> int:
    names = argv or list(SUITES)
    print(
        f"aixgo benchmarks — Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    print("times in milliseconds; targets are checked against the median")
    for name in names:
        try:
            module = importlib.import_module(SUITES[name])
        except ModuleNotFoundError as exc:
            if exc.name != SUITES[name]:
                raise
            print(f"\n({name}: not present)")
            continue
        module.run()
    missed = harness.missed()
    print(f"\n{len(missed)} target(s) missed" + "".join(f"\n  MISS {row.name}" for row in missed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
