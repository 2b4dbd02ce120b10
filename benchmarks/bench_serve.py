"""``aixgo serve`` under load: a turn through the server against a 100 ms upstream, beside the
upstream's own floor, at 1, 32 and 256 concurrent sessions; and time to first token when streaming.

The upstream is a fake OpenAI-compatible server (asyncio, its own process) answering after 100 ms; the floor is the
same request sent to it directly by the same load generator, at the same concurrency. A second floor is the same
request through a bare Python proxy (benchmarks/proxy.py: Starlette + httpx, no sessions): what any Python server in
front of the upstream costs on this machine. Turns through the server start a new session per request (what a standard
client without ``X-Session-Id`` gets), so the upstream receives the same one-message request as the floor; one row
continues one session instead. The server runs as a real process (file store, fsync never, logs at warning).

Beside each row through a server: that server process's CPU time per request (user + system, from /proc), which a busy
machine inflates far less than latency. The load generator is ``wrk`` with benchmarks/wrk_chat.lua when it is installed
(Debian's ``wrk`` package), else an httpx client in this process; the section says which, and measures its ceiling
against a 0 ms upstream alone."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.harness import header, note, percentile
from tests.server.serving import Served
from tests.session.redis_server import free_port

UPSTREAM_DELAY = 0.1
LEVELS = ((1, 40), (32, 320), (256, 768))
"""Concurrency and, for the httpx generator, requests per row (wrk runs each row for WRK_SECONDS)."""
WRK_SECONDS = {1: 5, 32: 5, 256: 8}
WRK_SCRIPT = Path(__file__).with_name("wrk_chat.lua")


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


@dataclass(frozen=True)
class Load:
    """What one row's load came to: requests answered, latency (ms), requests per second, failures."""

    n: int
    p50: float
    p99: float
    rate: float
    errors: int = 0


Sessions = Callable[[int], dict[str, str]]


def _no_session(number: int) -> dict[str, str]:
    return {}


def _wrk(url: str, concurrency: int, body: dict[str, object], sessions: str) -> Load:
    """``wrk`` for WRK_SECONDS at ``concurrency`` connections (``sessions``: see benchmarks/wrk_chat.lua)."""
    env = {**os.environ, "WRK_BODY": json.dumps(body), "WRK_SESSIONS": sessions}
    threads = min(2, concurrency)
    command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{WRK_SECONDS.get(concurrency, 5)}s", "--timeout", "60s",
               "-s", str(WRK_SCRIPT), url]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["errors"]:
        note(f"{result['errors']} of {result['requests']} requests to {url} failed")
    return Load(result["requests"], result["p50_us"] / 1000, result["p99_us"] / 1000,
                result["requests"] / result["seconds"], result["errors"])


async def _httpx(url: str, concurrency: int, total: int, headers_for: Sessions, body: dict[str, object]) -> Load:
    limits = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(total):
            queue.put_nowait(number)
        times: list[float] = []
        failed: list[str] = []

        async def worker() -> None:
            while not queue.empty():
                number = queue.get_nowait()
                started = time.perf_counter()
                try:
                    answer = await client.post(url, json=body, headers=headers_for(number))
                    answer.raise_for_status()
                except httpx.HTTPError as exc:  # reported beside the row, not timed
                    failed.append(f"{type(exc).__name__} {getattr(getattr(exc, 'response', None), 'status_code', '')}")
                    continue
                times.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    if failed:
        note(f"{len(failed)} of {total} requests to {url} failed: {sorted(set(failed))}")
    return Load(len(times), statistics.median(times) * 1000, percentile(times, 99) * 1000, len(times) / wall,
                len(failed))


class Generator:
    """The load generator of this run: ``wrk`` when installed, else httpx in this process."""

    def __init__(self) -> None:
        self.wrk = shutil.which("wrk") is not None
        self.name = (f"wrk (C, {WRK_SCRIPT.name}; up to 2 threads, one connection per concurrent session)" if self.wrk
                     else "httpx.AsyncClient in the benchmark's own process (install Debian's wrk to lift its ceiling)")

    def load(self, url: str, concurrency: int, total: int, body: dict[str, object], sessions: str = "") -> Load:
        """``sessions``: "" no session header, ``PREFIX`` a new session per request, ``one:ID`` one session."""
        if self.wrk:
            return _wrk(url, concurrency, body, sessions)
        headers: Sessions = _no_session
        if sessions.startswith("one:"):
            headers = lambda number, fixed=sessions[4:]: {"X-Session-Id": fixed}  # noqa: E731
        elif sessions:
            headers = lambda number, prefix=sessions: {"X-Session-Id": f"{prefix}-{number}"}  # noqa: E731
        return asyncio.run(_httpx(url, concurrency, total, headers, body))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _loaded(generator: Generator, pid: int, url: str, concurrency: int, total: int, body: dict[str, object],
            sessions: str = "") -> tuple[Load, float]:
    """The load, and the CPU milliseconds process ``pid`` spent per answered request meanwhile (read after the
    requests still in flight have settled)."""
    before = _cpu_seconds(pid)
    load = generator.load(url, concurrency, total, body, sessions)
    time.sleep(0.5)
    return load, (_cpu_seconds(pid) - before) * 1000 / max(load.n, 1)


async def _first_token(url: str, body: dict[str, object], headers: dict[str, str]) -> float | None:
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        async with client.stream("POST", url, json={**body, "stream": True}, headers=headers) as answer:
            async for line in answer.aiter_lines():
                if '"content": "' in line and '"content": ""' not in line:
                    return time.perf_counter() - started
    note(f"a stream from {url} ended without a token (status {answer.status_code})")
    return None


def _row(name: str, load: Load, cpu: float | None = None) -> None:
    cpu_text = f"   {cpu:>6.2f} ms CPU/req" if cpu is not None else ""
    print(f"  {name:<58} {load.n:>6} {load.p50:>9.1f} {load.p99:>9.1f}   {load.rate:>7.0f} req/s{cpu_text}",
          flush=True)


def _ttft_row(name: str, samples: list[float]) -> None:
    p50, p99 = statistics.median(samples) * 1000, percentile(samples, 99) * 1000
    print(f"  {name:<58} {len(samples):>6} {p50:>9.1f} {p99:>9.1f}", flush=True)


@dataclass(frozen=True)
class _Targets:
    """The three servers of a run and the generator that loads them."""

    generator: Generator
    upstream: _Process
    proxy: _Process
    served: Served


BODY: dict[str, object] = {"model": "bot", "messages": [{"role": "user", "content": "hello"}]}
DIRECT: dict[str, object] = {"model": "test-model", "messages": [{"role": "user", "content": "hello"}]}


def run() -> None:
    header("aixgo serve: a turn through the server vs the upstream's floor (100 ms upstream)")
    generator = Generator()
    note(f"load generator: {generator.name}")
    print(f"  {'':<58} {'':>6} {'p50 ms':>9} {'p99 ms':>9}   throughput   server CPU")
    with _upstream() as upstream, _Process("benchmarks.proxy", upstream.base_url) as proxy, \
            tempfile.TemporaryDirectory(prefix="aixgo-bench-serve-") as tmp:
        config = Path(tmp) / "serve.yaml"
        config.write_text(f"session: {{base_dir: {tmp}/store, fsync: never}}\n"
                          f"llm: {{base_url: '{upstream.base_url}', api_key: sk-bench, max_retries: 0}}\n"
                          "agents:\n  - {name: bot, model: test-model}\n")
        with Served(config, options=("--log-level", "warning")) as served:
            targets = _Targets(generator, upstream, proxy, served)
            _warm_up(targets)
            rates = {concurrency: _level(targets, concurrency, total) for concurrency, total in LEVELS}
            _one_session(targets)
            _first_tokens(targets)
    _ceiling(generator, rates[LEVELS[-1][0]])


def _warm_up(targets: _Targets) -> None:
    """Not timed: the first turn of a process builds its openai client and token counter."""
    for url, headers, body in ((f"{targets.upstream.base_url}/chat/completions", {}, DIRECT),
                               (f"{targets.proxy.base_url}/chat/completions", {}, DIRECT),
                               (f"{targets.served.url}/v1/chat/completions", {"X-Session-Id": "warm-up"}, BODY)):
        for _ in range(3):
            httpx.post(url, json=body, headers=headers, timeout=60).raise_for_status()


def _level(targets: _Targets, concurrency: int, total: int) -> float:
    """The three rows at one concurrency and what aixgo adds; returns aixgo's requests per second."""
    generator, served = targets.generator, targets.served
    floor, _ = _loaded(generator, targets.upstream.process.pid, f"{targets.upstream.base_url}/chat/completions",
                       concurrency, total, DIRECT)
    proxied, proxy_cpu = _loaded(generator, targets.proxy.process.pid, f"{targets.proxy.base_url}/chat/completions",
                                 concurrency, total, DIRECT)
    # a new session per request, so the upstream gets the floor's request (the openai client's request
    # conversion grows with a session's history, on any client alike)
    through, cpu = _loaded(generator, served.process.pid, f"{served.url}/v1/chat/completions", concurrency, total,
                           BODY, f"c{concurrency}")
    _row(f"floor: upstream directly, {concurrency} concurrent", floor)
    _row(f"floor: a bare Python proxy (Starlette + httpx), {concurrency} concurrent", proxied, proxy_cpu)
    _row(f"aixgo serve, {concurrency} concurrent sessions (new session each)", through, cpu)
    note(f"overhead over the upstream at {concurrency}: aixgo serve {through.p50 - floor.p50:.1f} ms at p50 "
         f"({through.p99 - floor.p99:.1f} at p99), a bare proxy {proxied.p50 - floor.p50:.1f} ms: aixgo's own "
         f"{through.p50 - proxied.p50:.1f} ms (target <= 1.5); CPU per turn {cpu - proxy_cpu:.2f} ms over the proxy's; "
         f"turns/s {through.rate / proxied.rate:.2f}x the proxy's (target >= 0.8 at 32)")
    return through.rate


def _one_session(targets: _Targets) -> None:
    """One session continued by every request (one at a time: its turns take the session's lease in turn)."""
    generator, served = targets.generator, targets.served
    proxied, proxy_cpu = _loaded(generator, targets.proxy.process.pid, f"{targets.proxy.base_url}/chat/completions",
                                 1, 40, DIRECT)
    through, cpu = _loaded(generator, served.process.pid, f"{served.url}/v1/chat/completions", 1, 40, BODY,
                           "one:the-one-session")
    _row("floor: a bare Python proxy, 1 concurrent (again)", proxied, proxy_cpu)
    _row("aixgo serve, one session continued by every request", through, cpu)
    note(f"one session: aixgo's own {through.p50 - proxied.p50:.1f} ms at p50 over the bare proxy (target <= 1.5); "
         f"CPU per turn {cpu - proxy_cpu:.2f} ms over the proxy's (its history grows by a turn per request)")


def _first_tokens(targets: _Targets) -> None:
    upstream, proxy, served = targets.upstream, targets.proxy, targets.served
    ttft_floor = [t for _ in range(20) if (t := asyncio.run(_first_token(f"{upstream.base_url}/chat/completions",
                                                                         DIRECT, {})))]
    ttft_proxy = [t for _ in range(20) if (t := asyncio.run(_first_token(f"{proxy.base_url}/chat/completions",
                                                                         DIRECT, {})))]
    ttft = [t for n in range(20) if (t := asyncio.run(
        _first_token(f"{served.url}/v1/chat/completions", BODY, {"X-Session-Id": f"t{n}"})))]
    _ttft_row("floor: upstream's time to first token", ttft_floor)
    _ttft_row("floor: time to first token through a bare Python proxy", ttft_proxy)
    _ttft_row("time to first token through aixgo serve", ttft)
    note(f"first-token overhead: {(statistics.median(ttft) - statistics.median(ttft_floor)) * 1000:.1f} ms "
         f"at p50 (target <= 5 ms); a bare proxy's own: "
         f"{(statistics.median(ttft_proxy) - statistics.median(ttft_floor)) * 1000:.1f} ms")


def _ceiling(generator: Generator, measured: float) -> None:
    """The generator's own ceiling: its rate against an upstream that answers at once, at the top concurrency."""
    concurrency, total = LEVELS[-1]
    with _Process("benchmarks.upstream", "0") as instant:
        load = generator.load(f"{instant.base_url}/chat/completions", concurrency, total * 2, DIRECT)
    _row(f"generator's ceiling: a 0 ms upstream alone, {concurrency} concurrent", load)
    note(f"the generator drives {load.rate:.0f} req/s against the upstream alone: {load.rate / measured:.1f}x the "
         f"{measured:.0f} req/s measured through aixgo serve at {concurrency} (target >= 2x: the row is the "
         "server's, not the generator's)")


if __name__ == "__main__":
    run()
