"""Runtime benchmarks (issue: runtime, CLI and examples).

* overhead per turn: ``call_with_session`` with a model that answers instantly, on the file store —
  everything the runtime adds (session lookup, turn lease, history read, three durable appends);
* 200 sessions served concurrently by ``acall_with_session`` against a model that takes 100 ms.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aixgo.agents import ReActAgent
from aixgo.llm import ModelResponse, ModelSettings
from aixgo.runtime import Runtime
from aixgo.session import FileBackend, Manager
from benchmarks.harness import header, measure, note, report


class FixedDelayModel:
    """Answers after ``delay`` seconds (0: at once)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def complete(self, messages: Sequence[Any], tools: Sequence[Any], settings: ModelSettings) -> ModelResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        return ModelResponse(content="ok", finish_reason="stop")


def run() -> None:
    header("Runtime (file store)")
    with tempfile.TemporaryDirectory(prefix="aixgo-bench-rt-") as tmp:
        for policy in ("always", "never"):
            _overhead(Path(tmp) / f"overhead-{policy}", policy)
        _concurrency(Path(tmp) / "concurrent")


def _overhead(base: Path, fsync: str) -> None:
    model = FixedDelayModel(0)
    with Runtime(Manager(FileBackend(base, fsync=fsync))) as rt:  # type: ignore[arg-type]
        rt.register_agent(ReActAgent("bench", model))
        rt.call_with_session("bench", "warm up", "turns")

        async def bare() -> None:
            await model.complete([], [], ModelSettings())

        loop = asyncio.new_event_loop()
        floor = measure(lambda: loop.run_until_complete(bare()), 500)
        loop.close()
        turns = measure(lambda: rt.call_with_session("bench", "hello", "turns"), 500)
    report(f"one turn, instant model, fsync={fsync} (3 appends)", turns, 2e-3 if fsync == "always" else None)
    report("floor: the same model call on a bare event loop", floor)


def _concurrency(base: Path) -> None:
    with Runtime(Manager(FileBackend(base))) as rt:
        rt.register_agent(ReActAgent("bench", FixedDelayModel(0.1)))
        round_no = 0

        async def serve_200() -> None:
            await asyncio.gather(*(rt.acall_with_session("bench", "hi", f"r{round_no}-s{i}") for i in range(200)))

        def one_round() -> None:
            nonlocal round_no
            round_no += 1
            asyncio.run(serve_200())

        samples = measure(one_round, 9, warmup=1)
    report("200 sessions concurrently, model takes 100 ms (total)", samples, 1.5)
    note("floor for that row: 100 ms, the model's own latency; 200 new sessions are created each round")


if __name__ == "__main__":
    started = time.perf_counter()
    run()
    print(f"({time.perf_counter() - started:.1f} s)")
