"""Code run in child processes by the runtime tests (importable under spawn)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aixgo.agents import ReActAgent
from aixgo.llm import ModelResponse, ModelSettings
from aixgo.runtime import Runtime
from aixgo.session import Entry, FileBackend, Manager


class SlowEcho:
    """A model that takes ``delay`` seconds and echoes the last user message."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def complete(
        self, messages: Sequence[Any], tools: Sequence[Any], settings: ModelSettings
    ) -> ModelResponse:
        await asyncio.sleep(self.delay)
        last = [m for m in messages if m["role"] == "user"][-1]["content"]
        return ModelResponse(content=f"echo: {last}")


def slow_turns(base_dir: str, session_id: str, tag: str, turns: int, delay: float) -> None:
    """Run ``turns`` turns on one session through a runtime of this process."""
    runtime = Runtime(Manager(FileBackend(Path(base_dir))))
    runtime.register_agent(ReActAgent("echo", SlowEcho(delay)))
    with runtime:
        for i in range(turns):
            runtime.call_with_session("echo", f"{tag}-{i}", session_id)
            time.sleep(0.001)


def redis_turns(url: str, session_id: str, tag: str, turns: int, delay: float) -> None:
    """Like :func:`slow_turns`, on the Redis store: each process is one "node"."""
    from aixgo.session import RedisBackend

    runtime = Runtime(Manager(RedisBackend(url)), lease_ttl=30)
    runtime.register_agent(ReActAgent("echo", SlowEcho(delay)))
    with runtime:
        for i in range(turns):
            runtime.call_with_session("echo", f"{tag}-{i}", session_id)


def run_in_processes(target: Any, args_per_process: list[tuple[Any, ...]], timeout: float = 90) -> None:
    """Run ``target`` in one spawned process per argument tuple; all must exit 0."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=args) for args in args_per_process]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout)
        assert proc.exitcode == 0


def assert_whole_turns(entries: list[Entry], turns: int) -> None:
    """The history is ``turns`` complete echo turns (user, answer, usage), none interleaved."""
    kinds = [(e.type.value, e.data.get("role")) for e in entries]
    assert kinds == [("message", "user"), ("message", "assistant"), ("usage", None)] * turns
    for i in range(0, len(entries), 3):
        assert entries[i + 1].data["content"] == "echo: " + entries[i].data["content"]
