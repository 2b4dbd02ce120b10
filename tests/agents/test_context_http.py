"""Long conversations over real HTTP: the real ``openai`` client against a local server that refuses
requests above its context window, in the error shapes of OpenAI, vLLM and llama.cpp.

The first version died here for good: from the 13th turn on every request was refused, and every
failed turn made the next request larger still.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aixgo.agents import ContextSettings, ReActAgent
from aixgo.agents.context.compaction import SUMMARY_INTRO
from aixgo.errors import ContextWindowExceededError
from aixgo.llm import OpenAIChatModel, RetryPolicy
from aixgo.session import EntryType, FileBackend, Manager, Session
from tests.support.openai_server import CONTEXT_ERRORS, OpenAIServer, call, count_tokens, tool_calls

WINDOW = 1024
FILLER = " ".join(f"word{i}" for i in range(40))


def responder(body: dict[str, Any]) -> str:
    """Answers like a model: summaries list the turns they saw, other requests echo the turn number."""
    messages = body["messages"]
    if messages[0]["content"].startswith("You maintain the memory"):
        seen = sorted({int(n) for n in re.findall(r"turn (\d+):", messages[-1]["content"])})
        earlier = re.findall(r"turns? seen: ([\d, ]+)", messages[-1]["content"])
        numbers = sorted(set(seen) | {int(n) for part in earlier for n in part.replace(",", " ").split()})
        return "turns seen: " + ", ".join(str(n) for n in numbers)
    last = messages[-1]["content"]
    found = re.match(r"turn (\d+):", last or "")
    return f"answer {found.group(1)}" if found else "ok"


def message(number: int) -> str:
    return f"turn {number}: {FILLER}"


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


@pytest.fixture
def manager(store_dir: Path) -> Iterator[Manager]:
    with Manager(FileBackend(store_dir, fsync="never")) as opened:
        yield opened


def make_agent(server: OpenAIServer, context: ContextSettings | None = None, **kwargs: Any) -> ReActAgent:
    model = OpenAIChatModel(
        "test-model", api_key="sk-test", base_url=server.base_url, timeout=5.0,
        retry_policy=RetryPolicy(max_retries=0),
    )
    return ReActAgent("assistant", model, "You are a test.", model_name="test-model", context=context, **kwargs)


def turn(agent: ReActAgent, session: Session, text: str) -> str:
    return asyncio.run(agent.run_turn(session, text)).answer


def summaries(session: Session) -> list[dict[str, Any]]:
    return [e.data for e in session.get_entries() if e.type is EntryType.SUMMARY]


@pytest.mark.parametrize("shape", CONTEXT_ERRORS)
def test_sixty_turns_without_a_context_setting_all_succeed(manager: Manager, shape: str) -> None:
    with OpenAIServer(context_limit=WINDOW, context_error=shape, responder=responder) as server:
        agent = make_agent(server)
        session = manager.create("assistant", f"long-{shape}")
        for number in range(1, 61):
            assert turn(agent, session, message(number)) == f"answer {number}"
        # the window was learned from one refusal (stored for a fresh process), never refused again
        assert server.refused_for_context == 1
        stored = session.get_entries()
        windows = [e.data["context_window"] for e in stored if e.type is EntryType.METADATA]
        assert windows == [WINDOW]
        assert not [e for e in stored if e.type is EntryType.ERROR]
        # every user message is still stored; summaries cover the older ones
        users = [e.data["content"] for e in stored if e.type is EntryType.MESSAGE and e.data["role"] == "user"]
        assert users == [message(n) for n in range(1, 61)]
        kept = summaries(session)
        assert len(kept) >= 3
        assert all(s["from_seq"] == 1 and s["window"] == WINDOW for s in kept)
        assert [s["to_seq"] for s in kept] == sorted(s["to_seq"] for s in kept)
        # each summary folds the previous one: the last one has seen every turn it covers
        covered = [e for e in stored if e.seq <= kept[-1]["to_seq"] and e.type is EntryType.MESSAGE]
        turns_covered = {int(m.data["content"].split()[1].rstrip(":")) for m in covered if m.data["role"] == "user"}
        assert kept[-1]["content"] == "turns seen: " + ", ".join(str(n) for n in sorted(turns_covered))
        # no request sent after the window was learned exceeded it
        for body in server.chat_requests[-20:]:
            assert count_tokens(body) + int(body.get("max_tokens") or 0) <= WINDOW


def test_a_fresh_process_continues_without_resummarizing(store_dir: Path) -> None:
    with OpenAIServer(context_limit=WINDOW, responder=responder) as server:
        with Manager(FileBackend(store_dir, fsync="never")) as first:
            agent = make_agent(server)
            session = first.create("assistant", "restart")
            for number in range(1, 31):
                turn(agent, session, message(number))
            assert summaries(session)
        before = len(server.chat_requests)
        with Manager(FileBackend(store_dir, fsync="never")) as second:  # a new process: nothing in memory
            agent = make_agent(server)
            session = second.get("restart")
            assert turn(agent, session, message(31)) == "answer 31"
            sent = server.chat_requests[before:]
            assert len(sent) == 1  # no refusal to relearn the window, no summary request
            system = sent[0]["messages"][0]["content"]
            assert SUMMARY_INTRO in system and "turns seen: 1, 2" in system
            assert sent[0]["messages"][-1]["content"] == message(31)


def test_restore_across_a_compaction_uses_the_summary_valid_then(manager: Manager) -> None:
    with OpenAIServer(context_limit=WINDOW, responder=responder) as server:
        agent = make_agent(server, ContextSettings(window=WINDOW))
        session = manager.create("assistant", "restore")
        for number in range(1, 4):
            turn(agent, session, message(number))
        early = session.checkpoint()
        number = 3
        while len(summaries(session)) < 2:
            number += 1
            turn(agent, session, message(number))
        first_summary = summaries(session)[0]
        late = session.checkpoint()
        for extra in range(number + 1, number + 4):
            turn(agent, session, message(extra))

        session.restore(early.id)  # before any compaction: the original turns, no summary
        turn(agent, session, message(100))
        body = server.chat_requests[-1]["messages"]
        assert SUMMARY_INTRO not in body[0]["content"]
        assert [m["content"] for m in body if m["role"] == "user"] == [message(1), message(2), message(3), message(100)]

        session.restore(late.id)  # after two compactions: the second summary, not a later one
        turn(agent, session, message(101))
        system = server.chat_requests[-1]["messages"][0]["content"]
        assert summaries(session)[-1]["to_seq"] > first_summary["to_seq"]
        assert system.endswith(summaries(session)[-1]["content"])


def test_a_turn_that_can_never_fit_fails_clearly_and_does_not_poison_the_session(manager: Manager) -> None:
    with OpenAIServer(context_limit=WINDOW, responder=responder) as server:
        agent = make_agent(server)
        session = manager.create("assistant", "huge")
        turn(agent, session, message(1))
        huge = "turn 2: " + " ".join(f"w{i}" for i in range(3000))
        with pytest.raises(ContextWindowExceededError) as caught:
            turn(agent, session, huge)
        text = str(caught.value)
        assert "does not fit" in text and "shorter message" in text
        refused = server.refused_for_context
        # the next turn works, without resending the huge message; nothing new is refused
        assert turn(agent, session, message(3)) == "answer 3"
        assert server.refused_for_context == refused
        users = [m["content"] for m in server.chat_requests[-1]["messages"] if m["role"] == "user"]
        assert users == [message(1), message(3)]
        assert huge in [e.data.get("content") for e in session.get_entries()]  # kept, not sent


def test_trim_drops_whole_turns_and_never_splits_a_tool_call(manager: Manager) -> None:
    with OpenAIServer(context_limit=WINDOW, responder=responder) as server:
        agent = make_agent(server, ContextSettings(window=WINDOW, strategy="trim"), tools=["calculator"])
        session = manager.create("assistant", "trim")
        for number in range(1, 30):
            if number % 3 == 0:
                server.enqueue(tool_calls(call("calculator", {"expression": f"{number} * 2"})))
            turn(agent, session, message(number))
        assert server.refused_for_context == 0
        assert not summaries(session)
        last = server.chat_requests[-1]["messages"]
        assert last[1]["role"] == "user"  # history starts at a whole turn
        pending: set[str] = set()
        for sent in last:
            for called in sent.get("tool_calls") or []:
                pending.add(called["id"])
            if sent["role"] == "tool":
                assert sent["tool_call_id"] in pending
        assert count_tokens(server.chat_requests[-1]) < WINDOW
        assert len(last) < 29 * 2  # older turns were left out


def test_a_configured_window_is_never_exceeded_and_compacts_ahead(manager: Manager) -> None:
    with OpenAIServer(context_limit=WINDOW, responder=responder) as server:
        agent = make_agent(server, ContextSettings(window=WINDOW))
        session = manager.create("assistant", "ahead")
        for number in range(1, 41):
            turn(agent, session, message(number))
        assert server.refused_for_context == 0
        compactions = summaries(session)
        assert compactions and "window" not in compactions[0]  # configured, so not recorded
        usage = [e.data for e in session.get_entries() if e.type is EntryType.USAGE]
        assert sum(u.get("summary_requests", 0) for u in usage) == sum(s["requests"] for s in compactions)


def test_a_configured_window_larger_than_the_servers_is_corrected(manager: Manager) -> None:
    with OpenAIServer(context_limit=WINDOW, responder=responder) as server:
        agent = make_agent(server, ContextSettings(window=4 * WINDOW))
        session = manager.create("assistant", "too-big")
        for number in range(1, 41):
            assert turn(agent, session, message(number)) == f"answer {number}"
        assert server.refused_for_context == 1
        stored = session.get_entries()
        assert [e.data["context_window"] for e in stored if e.type is EntryType.METADATA] == [WINDOW]
        assert summaries(session)[-1]["window"] == WINDOW


def test_a_tokenizer_that_counts_more_than_the_estimate_is_learned(manager: Manager) -> None:
    with OpenAIServer(context_limit=WINDOW, responder=responder, token_scale=3.0) as server:
        agent = make_agent(server, ContextSettings(window=WINDOW))
        session = manager.create("assistant", "dense")
        for number in range(1, 41):
            assert turn(agent, session, message(number)) == f"answer {number}"
        assert server.refused_for_context <= 2  # the calibration follows the reported prompt tokens
        assert not [e for e in session.get_entries() if e.type is EntryType.ERROR]


def test_the_configured_summarizer_writes_the_summaries(manager: Manager) -> None:
    with OpenAIServer(context_limit=WINDOW, responder=responder) as server:
        agent = make_agent(server, ContextSettings(window=WINDOW, summarizer="small-model"))
        session = manager.create("assistant", "summarizer")
        for number in range(1, 25):
            turn(agent, session, message(number))
        asked = [body for body in server.chat_requests if body["messages"][0]["content"].startswith("You maintain")]
        assert asked and all(body["model"] == "small-model" for body in asked)
        assert all(body["model"] == "test-model" for body in server.chat_requests if body not in asked)
        assert summaries(session)[-1]["model"] == "small-model"


def test_trim_remembers_a_learned_window_across_processes(store_dir: Path) -> None:
    with OpenAIServer(context_limit=WINDOW, context_error="vllm", responder=responder) as server:
        with Manager(FileBackend(store_dir, fsync="never")) as first:
            agent = make_agent(server, ContextSettings(strategy="trim"))
            session = first.create("assistant", "trim-learned")
            for number in range(1, 31):
                turn(agent, session, message(number))
            assert server.refused_for_context == 1 and not summaries(session)
        with Manager(FileBackend(store_dir, fsync="never")) as second:
            agent = make_agent(server, ContextSettings(strategy="trim"))
            assert turn(agent, second.get("trim-learned"), message(31)) == "answer 31"
        assert server.refused_for_context == 1
