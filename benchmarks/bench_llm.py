"""A turn through the runtime beside the bare ``openai`` client on the same request (issue: real
OpenAI-compatible servers): what aixgo adds per turn over real HTTP.

Both sides talk to the local OpenAI-compatible test server (``tests/support/openai_server.py``) on
loopback, answering at once; the floor is the bare ``openai.AsyncOpenAI`` client sending the same
chat request. The runtime side is a whole turn: session, lease, history, the request, storing the
user message, the answer and the usage (file store, ``fsync=never`` to keep the disk out of it).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx
import openai

from aixgo.agents import ReActAgent
from aixgo.llm import ModelSettings, OpenAIChatModel
from aixgo.runtime import Runtime
from aixgo.session import FileBackend, Manager
from benchmarks.harness import header, measure, note, report
from tests.support.openai_server import OpenAIServer

TURNS = 400
HISTORY = [{"role": "system", "content": "You are a test."}] + [
    {"role": "user" if number % 2 == 0 else "assistant", "content": f"message {number} " * 20} for number in range(40)
]


def run() -> None:
    header("A turn over real HTTP: the runtime beside the bare openai client")
    with OpenAIServer() as server, tempfile.TemporaryDirectory(prefix="aixgo-bench-llm-") as tmp:
        server.enqueue(*(["ok"] * (5 * TURNS + 200)))
        loop = asyncio.new_event_loop()
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-bench", max_retries=0)
        messages = [{"role": "system", "content": "You are a test."}, {"role": "user", "content": "hello"}]

        async def bare() -> None:
            await client.chat.completions.create(model="test-model", messages=messages)  # type: ignore[arg-type]

        floor = report(
            "floor: bare openai client, one chat request",
            measure(lambda: loop.run_until_complete(bare()), TURNS, warmup=20),
        )
        model = OpenAIChatModel("test-model", base_url=server.base_url, api_key="sk-bench")
        runtime = Runtime(Manager(FileBackend(Path(tmp), fsync="never")))
        runtime.register_agent(ReActAgent("bench", model, "You are a test.", model_name="test-model"))
        counter = iter(range(10**9))

        def turn() -> None:
            # a new session each turn: the request is then the floor's (system + user message); with a
            # history, the openai client's own request conversion grows with it on both sides alike
            loop.run_until_complete(runtime.acall_with_session("bench", "hello", f"s{next(counter)}"))

        turns = report(
            "runtime: one turn (acall_with_session, new session), same request", measure(turn, TURNS, warmup=20)
        )
        note(
            f"runtime overhead per turn: {(turns.median - floor.median) * 1000:.2f} ms at the median "
            f"(target <= 2 ms), {(turns.p99 - floor.p99) * 1000:.2f} ms at p99"
        )
        _long_history(loop, server.base_url, client, model)
        loop.run_until_complete(model.aclose())
        loop.run_until_complete(client.close())
        runtime.close()
        loop.close()


def _long_history(
    loop: asyncio.AbstractEventLoop, base_url: str, client: openai.AsyncOpenAI, model: OpenAIChatModel
) -> None:
    """One request carrying a 40-message history: the openai client's typed ``create`` walks every
    message of every request; aixgo posts the JSON as is. The floor is a raw httpx POST of the same body."""
    raw = httpx.AsyncClient(headers={"Authorization": "Bearer sk-bench"})
    body = {"model": "test-model", "messages": HISTORY}

    async def raw_post() -> None:
        (await raw.post(f"{base_url}/chat/completions", json=body)).raise_for_status()

    async def typed() -> None:
        await client.chat.completions.create(model="test-model", messages=HISTORY)  # type: ignore[arg-type]

    async def ours() -> None:
        await model.complete(HISTORY, [], ModelSettings())

    floor = report("floor: raw httpx POST of a 40-message request", measure(lambda: loop.run_until_complete(raw_post()),
                                                                        TURNS, warmup=20))
    report("bare openai client (typed create), the same request", measure(lambda: loop.run_until_complete(typed()),
                                                                          TURNS, warmup=20))
    step = report("OpenAIChatModel.complete, the same request", measure(lambda: loop.run_until_complete(ours()),
                                                                        TURNS, warmup=20))
    note(f"aixgo's request with a 40-message history: {(step.median - floor.median) * 1000:.2f} ms over the raw "
         f"floor at the median, {(step.p99 - floor.p99) * 1000:.2f} ms at p99")
    loop.run_until_complete(raw.aclose())
