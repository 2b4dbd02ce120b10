"""``aixgo serve`` under load: a turn through the server against a 100 ms upstream, beside the
upstream's own floor, at 1, 32 and 256 concurrent sessions; and time to first token when streaming.

The upstream is a fake OpenAI-compatible server (asyncio, its own process) answering after 100 ms; the floor is the
same request sent to it directly by the same client, at the same concurrency. A second floor is the same request
through a bare Python proxy (benchmarks/proxy.py: Starlette + httpx, no sessions): what any Python server in front of
the upstream costs on this machine. Each turn through the
server starts a new session, so the upstream receives the same one-message request as the floor. The server runs as a
real process (file store, fsync never, logs at warning)."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.harness import header, note, percentile
from tests.server.serving import Served
from tests.session.redis_server import free_port

UPSTREAM_DELAY = 0.1
LEVELS = ((1, 40), (32, 320), (256, 768))


class _Process:
    """A benchmark server (``python -m MODULE PORT ARGS…``) in its own process, so it is not the bottleneck."""

    def __init__(self, module: str, *args: str) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.process = subprocess.Popen([sys.executable, "-m", module, str(port), *args])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.post(f"{self.base_url}/chat/completions", json={"model": "m"}, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.process.terminate()
        raise RuntimeError(f"the benchmark's {module} did not start")

    def __enter__(self) -> _Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _upstream() -> _Process:
    """benchmarks/upstream.py: an asyncio fake OpenAI-compatible server answering after 100 ms."""
    return _Process("benchmarks.upstream", str(UPSTREAM_DELAY))


async def _load(url: str, concurrency: int, total: int, headers_for: object, body: dict[str, object]) -> list[float]:
    limits = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(total):
            queue.put_nowait(number)
        times: list[float] = []
        failed: list[str] = []

        async def worker(slot: int) -> None:
            while not queue.empty():
                number = queue.get_nowait()
                started = time.perf_counter()
                try:
                    answer = await client.post(url, json=body, headers=headers_for(slot, number))  # type: ignore[operator]
                    answer.raise_for_status()
                except httpx.HTTPError as exc:  # reported beside the row, not timed
                    failed.append(f"{type(exc).__name__} {getattr(getattr(exc, 'response', None), 'status_code', '')}")
                    continue
                times.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker(slot) for slot in range(concurrency)))
        if failed:
            note(f"{len(failed)} of {total} requests to {url} failed: {sorted(set(failed))}")
        times.append(-(time.perf_counter() - started))  # the wall time, marked negative
        return times


async def _first_token(url: str, body: dict[str, object], headers: dict[str, str]) -> float | None:
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        async with client.stream("POST", url, json={**body, "stream": True}, headers=headers) as answer:
            async for line in answer.aiter_lines():
                if '"content": "' in line and '"content": ""' not in line:
                    return time.perf_counter() - started
    note(f"a stream from {url} ended without a token (status {answer.status_code})")
    return None


def _row(name: str, samples: list[float], wall: float) -> tuple[float, float]:
    p50, p99 = statistics.median(samples) * 1000, percentile(samples, 99) * 1000
    print(f"  {name:<58} {len(samples):>6} {p50:>9.1f} {p99:>9.1f}   {len(samples) / wall:>7.0f} req/s")
    return p50, p99


def run() -> None:
    header("aixgo serve: a turn through the server vs the upstream's floor (100 ms upstream)")
    print(f"  {'':<58} {'':>6} {'p50 ms':>9} {'p99 ms':>9}   throughput")
    with _upstream() as upstream, _Process("benchmarks.proxy", upstream.base_url) as proxy, \
            tempfile.TemporaryDirectory(prefix="aixgo-bench-serve-") as tmp:
        config = Path(tmp) / "serve.yaml"
        config.write_text(f"session: {{base_dir: {tmp}/store, fsync: never}}\n"
                          f"llm: {{base_url: '{upstream.base_url}', api_key: sk-bench, max_retries: 0}}\n"
                          "agents:\n  - {name: bot, model: test-model}\n")
        body: dict[str, object] = {"model": "bot", "messages": [{"role": "user", "content": "hello"}]}
        direct: dict[str, object] = {"model": "test-model", "messages": [{"role": "user", "content": "hello"}]}
        with Served(config, options=("--log-level", "warning")) as served:
            # warm-up, not timed: the first turn of a process builds its openai client and token counter
            for url, headers, warm_body in ((f"{upstream.base_url}/chat/completions", {}, direct),
                                            (f"{proxy.base_url}/chat/completions", {}, direct),
                                            (f"{served.url}/v1/chat/completions", {"X-Session-Id": "warm-up"}, body)):
                for _ in range(3):
                    httpx.post(url, json=warm_body, headers=headers, timeout=60).raise_for_status()
            for concurrency, total in LEVELS:
                floor = asyncio.run(_load(f"{upstream.base_url}/chat/completions", concurrency, total,
                                          lambda slot, number: {}, direct))
                proxied = asyncio.run(_load(f"{proxy.base_url}/chat/completions", concurrency, total,
                                            lambda slot, number: {}, direct))
                # a new session per request, so the upstream gets the floor's request (the openai
                # client's request conversion grows with a session's history, on any client alike)
                prefix = f"c{concurrency}"
                through = asyncio.run(_load(f"{served.url}/v1/chat/completions", concurrency, total,
                                            lambda slot, number, prefix=prefix: {"X-Session-Id": f"{prefix}-{number}"},
                                            body))
                floor_p50, floor_p99 = _row(f"floor: upstream directly, {concurrency} concurrent", floor[:-1], -floor[-1])
                proxy_p50, _ = _row(f"floor: a bare Python proxy (Starlette + httpx), {concurrency} concurrent",
                                    proxied[:-1], -proxied[-1])
                p50, p99 = _row(f"aixgo serve, {concurrency} concurrent sessions", through[:-1], -through[-1])
                note(f"server overhead per turn at {concurrency}: {p50 - floor_p50:.1f} ms at p50 "
                     f"(target <= 2 ms at 1), {p99 - floor_p99:.1f} ms at p99; a bare proxy's own: "
                     f"{proxy_p50 - floor_p50:.1f} ms at p50")
            ttft_floor = [t for _ in range(20)
                          if (t := asyncio.run(_first_token(f"{upstream.base_url}/chat/completions", direct, {})))]
            ttft_proxy = [t for _ in range(20)
                          if (t := asyncio.run(_first_token(f"{proxy.base_url}/chat/completions", direct, {})))]
            ttft = [t for n in range(20) if (t := asyncio.run(
                _first_token(f"{served.url}/v1/chat/completions", body, {"X-Session-Id": f"t{n}"})))]
            _row("floor: upstream's time to first token", ttft_floor, sum(ttft_floor))
            _row("floor: time to first token through a bare Python proxy", ttft_proxy, sum(ttft_proxy))
            _row("time to first token through aixgo serve", ttft, sum(ttft))
            note(f"first-token overhead: {(statistics.median(ttft) - statistics.median(ttft_floor)) * 1000:.1f} ms "
                 f"at p50 (target <= 5 ms); a bare proxy's own: "
                 f"{(statistics.median(ttft_proxy) - statistics.median(ttft_floor)) * 1000:.1f} ms")


if __name__ == "__main__":
    run()
