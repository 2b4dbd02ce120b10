"""Built-in tools: the safe calculator and current_time."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest

from aixgo.agents import calculator, current_time


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(3 + 4) * 12", 84),
        ("2 ^ 10", 1024),
        ("2 ** -1", 0.5),
        ("7 // 2 + 7 % 2", 4),
        ("0.1 + 0.2", 0.3),
        ("10 / 4", 2.5),
        ("10 / 5", 2),
        ("-(-3)", 3),
        ("+4", 4),
        ("sqrt(16) + abs(-2)", 6),
        ("round(pi, 3)", 3.142),
        ("max(1, 5, 3) - min(4, 2)", 3),
        ("floor(2.7) + ceil(2.1)", 5),
        ("factorial(5)", 120),
        ("log(e)", 1),
        ("1_000 * 3", 3000),
        ("6 \u00d7 7", 42),
        ("84 \u00f7 2", 42),
        ("2 ** 100", 2**100),
    ],
)
def test_calculator(expression: str, expected: float) -> None:
    assert calculator(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty"),
        ("1 +", "not a valid arithmetic expression"),
        ("1 / 0", "division by zero"),
        ("10 % 0", "division by zero"),
        ("2 ** 100000", "exponents are limited"),
        ("9 ** 999 ** 2", "exponents are limited"),
        ("(2 ** 1000) ** 1000", "exponents are limited|too large"),
        ("99999999999 ** 999", "too large"),
        ("10.0 ** 400", "too large"),
        ("factorial(10000)", "factorial takes one whole number up to 300"),
        ("__import__('os').system('echo hi')", "unknown name"),
        ("open('/etc/passwd')", "unknown name"),
        ("x + 1", "unknown name"),
        ("'a' * 3", "only numbers"),
        ("True + 1", "only numbers"),
        ("1j * 1j", "only numbers"),
        ("[1, 2]", "unsupported syntax: List"),
        ("(1).real", "unsupported syntax: Attribute"),
        ("sqrt(x=4)", "positional arguments only"),
        ("1 << 5000", "unsupported syntax"),
        ("(-8) ** 0.5", "not a real number"),
        ("1 +" * 300 + "1", "longer than 500|too complex"),
        ("-" * 300 + "1", "too complex"),
        ("sqrt(-1)", "math domain error"),
    ],
)
def test_calculator_refuses(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calculator(expression)


def test_calculator_is_fast_on_hostile_input() -> None:
    # this thread's CPU time, which other processes' load cannot stretch: the expressions are refused
    # before anything is computed (9 ** 9 ** 9 alone would take minutes)
    started = time.thread_time()
    for expression in ("9 ** 9 ** 9", "2 ** 4000 * 2 ** 4000 * 2 ** 4000", "factorial(300) ** 300"):
        with pytest.raises(ValueError):
            calculator(expression)
    assert time.thread_time() - started < 0.5


def test_current_time_utc_by_default() -> None:
    before = datetime.now(UTC).replace(microsecond=0)  # the tool answers to the second
    text = current_time()
    after = datetime.now(UTC)
    assert text.endswith("(UTC)")
    stamp = datetime.fromisoformat(text.split(" ")[0])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert before <= stamp <= after


def test_current_time_in_a_zone() -> None:
    text = current_time("Asia/Kolkata")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30 \(Asia/Kolkata\)", text)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "Not A Zone"])
def test_current_time_unknown_zone(zone: str) -> None:
    with pytest.raises(ValueError, match="IANA"):
        current_time(zone)
