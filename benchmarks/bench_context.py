"""Long conversations: the cost of building a request at turn 1,000, and what compaction adds.

A session of 1,000 turns is written through a real agent (an instant function model that reports
prompt tokens the way a server would, so the budget calibrates as in use), on the file store. Then,
in the same warm process:

* build: read the conversation (latest summary + turns after it) and fit the next request, as a
  turn does before each model call; beside the floor of reading the same number of entries raw;
* fit only: the fitting of an already read conversation.

Compaction: the extra summary requests per 100 turns, for two window sizes.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from aixgo.agents import ContextSettings, ReActAgent
from aixgo.agents.context.tokens import estimate_text
from aixgo.llm import ModelResponse, ModelSettings, Usage
from aixgo.session import EntryType, FileBackend, Manager, Session
from benchmarks.harness import header, measure, note, report

TURNS = 1000
WORDS = ("session", "memory", "window", "summary", "request", "answer", "budget", "turn", "store", "model")


def _text(number: int, words: int) -> str:
    return " ".join(WORDS[(number * 7 + i) % len(WORDS)] for i in range(words)) + f" ({number})"


class _InstantModel:
    """Answers at once; reports prompt tokens as a BPE server would (about a token per word)."""

    def __init__(self) -> None:
        self.summaries = 0

    async def complete(self, messages: Any, tools: Any, settings: ModelSettings) -> ModelResponse:
        prompt = sum(len(str(m.get("content") or "").split()) + 4 for m in messages)
        if str(messages[0].get("content", "")).startswith("You maintain the memory"):
            self.summaries += 1
            return ModelResponse(content=_text(self.summaries, 150), usage=Usage(prompt, 200, prompt + 200))
        return ModelResponse(content=_text(len(messages), 40), usage=Usage(prompt, 60, prompt + 60))


def _grow(session: Session, window: int) -> tuple[ReActAgent, _InstantModel]:
    model = _InstantModel()
    agent = ReActAgent("bench", model, "You are a helpful assistant.", context=ContextSettings(window=window))
    loop = asyncio.new_event_loop()
    for number in range(TURNS):
        loop.run_until_complete(agent.run_turn(session, _text(number, 60)))
    loop.close()
    return agent, model


def run() -> None:
    header(f"Long conversations: building a request at turn {TURNS:,} (file store, warm process)")
    with tempfile.TemporaryDirectory(prefix="aixgo-bench-context-") as tmp, Manager(
        FileBackend(Path(tmp), fsync="never")
    ) as manager:
        results = {}
        for window in (4096, 8192):
            session = manager.create("bench", f"long-{window}")
            agent, model = _grow(session, window)
            results[window] = (session, agent, model)
        session, agent, _ = results[8192]
        conversation = agent.budget.read(session)
        entries_read = len(session.get_entries()) - (int(conversation.summary.data["to_seq"]) if conversation.summary else 0)
        turn = [{"role": "user", "content": _text(TURNS, 60)}]
        floor = report(
            f"floor: read the same {entries_read} newest entries raw",
            measure(lambda: session.get_entries(limit=entries_read), 300, warmup=20),
        )

        report(
            "first version: newest entries as chat messages, no budget",
            measure(lambda: session.get_messages(limit=entries_read), 300, warmup=20),
        )

        def build() -> None:
            read = agent.budget.read(session)
            agent.budget.fit(session.id, agent.system_prompt, read, turn, [], agent="bench")

        built = report("read the conversation + fit the next request (window 8192)", measure(build, 300, warmup=20),
                       target=0.001)
        report(
            "fit only (conversation already read)",
            measure(lambda: agent.budget.fit(session.id, agent.system_prompt, conversation, turn, [], agent="bench"),
                    300, warmup=20),
        )
        note(f"the build costs {(built.median - floor.median) * 1000:.3f} ms over the raw read at the median; "
             f"{len(conversation.turns)} turns after the summary are sent")
        note(f"estimate speed: {_estimate_speed():.1f} µs per 1,000 characters of English")
        for window, (session, _, _model) in results.items():
            entries = session.get_entries()
            summaries = [e for e in entries if e.type is EntryType.SUMMARY]
            requests = sum(int(e.data.get("requests", 0)) for e in summaries)
            note(f"window {window}: {len(summaries)} compactions in {TURNS:,} turns, "
                 f"{requests * 100 / TURNS:.1f} extra requests per 100 turns (a turn is one request)")


def _estimate_speed() -> float:
    text = "The quick brown fox jumps over the lazy dog, 42 times. " * 18
    started = time.perf_counter()
    for _ in range(2000):
        estimate_text(text)
    return (time.perf_counter() - started) / 2000 * 1e6 / (len(text) / 1000)


if __name__ == "__main__":
    run()
