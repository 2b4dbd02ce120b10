"""Parsing the text ReAct format the way models actually write it."""

from __future__ import annotations

import pytest

from aixgo.agents import TextFormatError, tool
from aixgo.agents.builtin import calculator
from aixgo.agents.text_format import (
    TextAction,
    TextFinalAnswer,
    action_arguments,
    parse_react_text,
    text_instructions,
)
from aixgo.agents.tools import Tool


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'Thought: need math\nAction: calculator\nAction Input: {"expression": "2+2"}',
            TextAction("calculator", '{"expression": "2+2"}', "need math"),
        ),
        (
            '**Thought:** hmm\n**Action:** `calculator`\n**Action Input:**\n```json\n{"expression": "1"}\n```',
            TextAction("calculator", '{"expression": "1"}', "hmm"),
        ),
        (
            'thought: x\naction: calculator\naction input: {"expression": "3"}\nObservation: 3\nFinal Answer: 3',
            TextAction("calculator", '{"expression": "3"}', "x"),
        ),
        ("Action: calculator[2 + 2]", TextAction("calculator", "2 + 2", None)),
        ("Action: current_time", TextAction("current_time", "", None)),
        ("Action: calculator\nObservation: 4\nAction Input: 2+2", TextAction("calculator", "", None)),
        ("Thought: done\nFinal Answer: It is 4.", TextFinalAnswer("It is 4.", "done")),
        ("- Final Answer: multi\nline answer", TextFinalAnswer("multi\nline answer", None)),
        ("Final Answer: 42\nObservation: invented", TextFinalAnswer("42", None)),
        ("Final Answer: first\nAction: calculator", TextFinalAnswer("first", None)),
        ("Just a plain reply without labels.", TextFinalAnswer("Just a plain reply without labels.")),
    ],
)
def test_parse(text: str, expected: TextAction | TextFinalAnswer) -> None:
    assert parse_react_text(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("Thought: I should think more", "expected 'Action:'"),
        ("Action: \nAction Input: {}", "no tool name"),
        ("Final Answer:   ", "Final Answer is empty"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(TextFormatError, match=message):
        parse_react_text(text)


@tool
def count(n: int) -> int:
    """Count."""
    return n


def test_action_arguments() -> None:
    calc = Tool(calculator)
    assert action_arguments('{"expression": "1"}', calc) == '{"expression": "1"}'
    assert action_arguments("2 + 2", calc) == {"expression": "2 + 2"}
    assert action_arguments("42", calc) == {"expression": "42"}  # a number for a string parameter stays text
    assert action_arguments('"quoted"', calc) == {"expression": "quoted"}
    assert action_arguments("7", count) == {"n": 7}
    assert action_arguments("anything", None) == "anything"
    assert action_arguments("", Tool(lambda_free_two_params)) == "{}"


def lambda_free_two_params(a: int, b: int) -> int:
    """Two parameters."""
    return a + b


def test_instructions_list_tools_and_format() -> None:
    text = text_instructions([Tool(calculator)])
    assert "- calculator: Evaluate an arithmetic expression" in text
    assert "Action: the tool name, one of [calculator]" in text
    assert "Action Input: the arguments as a JSON object" in text
    assert text.rstrip().endswith("Final Answer: your answer")
    assert "Action:" not in text_instructions([])
