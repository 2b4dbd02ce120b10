"""OfflineDemoModel: plausible, deterministic answers from history, with real tool calls."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aixgo.agents import ReActAgent
from aixgo.llm import ModelSettings
from aixgo.session import FileBackend, Manager
from aixgo.testing import OfflineDemoModel


def turn(sessions_dir: Path, message: str, react_format: str = "native") -> tuple[str, int]:
    """One turn in a fresh manager, as a new process would do it."""
    with Manager(FileBackend(sessions_dir, fsync="never")) as manager:
        session = manager.get_or_create("demo", "demo-1")
        agent = ReActAgent(
            "demo",
            OfflineDemoModel(),
            "You remember.",
            ["calculator", "current_time"],
            react_format=react_format,
        )
        result = asyncio.run(agent.run_turn(session, message))
        return result.answer, result.steps


@pytest.mark.parametrize("react_format", ["native", "text"])
def test_remembers_across_managers_and_uses_tools(sessions_dir: Path, react_format: str) -> None:
    def ask(message: str) -> tuple[str, int]:
        return turn(sessions_dir, message, react_format)

    assert ask("What is my name?") == ("You have not told me your name yet.", 1)
    assert ask("Hi! My name is Ada Lovelace.") == (
        "Nice to meet you, Ada Lovelace! I will remember your name.",
        1,
    )
    assert ask("Remember that the door code is 1234.") == (
        "Got it. I will remember that the door code is 1234.",
        1,
    )
    assert ask("What is 12 * (3 + 4)?") == ("12 * (3 + 4) = 84", 2)
    assert ask("what's my name?") == ("Your name is Ada Lovelace.", 1)
    assert ask("What did I ask you to remember?") == ("You asked me to remember: the door code is 1234.", 1)
    answer, steps = ask("What time is it in Europe/Paris?")
    assert answer.startswith("The current time is ") and "(Europe/Paris)" in answer and steps == 2
    assert ask("what is 1/0?") == (
        "Sorry, the calculator tool failed: division by zero",
        2,
    )
    assert ask("hello")[0].startswith("Hello again, Ada Lovelace!")


def test_other_messages(sessions_dir: Path) -> None:
    assert (
        turn(sessions_dir, "What did I say?")[0] == "You have not told me anything yet in this conversation."
    )
    answer, _ = turn(sessions_dir, "The sky is green.")
    assert answer.startswith('You said: "The sky is green."') and "offline demo model" in answer
    assert (
        turn(sessions_dir, "what did I say?")[0]
        == 'Earlier you said: "What did I say?" / "The sky is green."'
    )


def test_without_tools_it_says_so() -> None:
    model = OfflineDemoModel()

    def ask(text: str) -> str | None:
        return asyncio.run(model.complete([{"role": "user", "content": text}], [], ModelSettings())).content

    assert ask("what is 2 + 2?") == "I would need the calculator tool to compute that."
    assert ask("what time is it?") == "I cannot tell the time without the current_time tool."
    assert asyncio.run(model.complete([], [], ModelSettings())).content is not None


def test_is_deterministic_and_reports_usage() -> None:
    messages = [{"role": "user", "content": "what is 3 * 3"}]
    tools = [{"type": "function", "function": {"name": "calculator"}}]
    first = asyncio.run(OfflineDemoModel().complete(messages, tools, ModelSettings()))
    second = asyncio.run(OfflineDemoModel().complete(messages, tools, ModelSettings()))
    assert first == second
    assert (
        first.tool_calls[0].name == "calculator"
        and first.tool_calls[0].arguments == '{"expression": "3 * 3"}'
    )
    assert first.usage is not None and first.usage.total_tokens > 0
