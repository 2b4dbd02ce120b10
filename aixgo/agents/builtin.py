"""Built-in tools: ``calculator`` (safe arithmetic) and ``current_time``.

``calculator`` parses the expression with :mod:`ast` and evaluates only numbers, arithmetic
operators and a few math functions — never ``eval`` — with bounds on input length, nesting,
exponents and result size, so a model cannot make it run forever or exhaust memory.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

MAX_EXPRESSION_CHARS = 500
MAX_NODES = 200
MAX_EXPONENT = 1000
MAX_INT_BITS = 4096

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
    "factorial": math.factorial,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _check_size(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ValueError(f"the result is too large (more than {MAX_INT_BITS} bits)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("the result is not a finite number")
    return value


def _power(base: Any, exponent: Any) -> Any:
    if abs(exponent) > MAX_EXPONENT:
        raise ValueError(f"exponents are limited to ±{MAX_EXPONENT}")
    too_big = (
        isinstance(base, int)
        and isinstance(exponent, int)
        and base.bit_length() * exponent > 2 * MAX_INT_BITS
    )
    if too_big:
        raise ValueError(f"the result is too large (more than {MAX_INT_BITS} bits)")
    result = base**exponent
    if isinstance(result, complex):
        raise ValueError("the result is not a real number")
    return result


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ValueError(f"only numbers are allowed, not {node.value!r}")
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            return _check_size(_power(left, right))
        return _check_size(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        if node.keywords:
            raise ValueError("functions take positional arguments only")
        args = [_evaluate(arg) for arg in node.args]
        if node.func.id == "factorial" and (len(args) != 1 or not isinstance(args[0], int) or args[0] > 300):
            raise ValueError("factorial takes one whole number up to 300")
        return _check_size(_FUNCTIONS[node.func.id](*args))
    if isinstance(node, ast.Name | ast.Call):
        allowed = ", ".join(sorted([*_FUNCTIONS, *_CONSTANTS]))
        raise ValueError(f"unknown name in expression; allowed functions and constants: {allowed}")
    raise ValueError(f"unsupported syntax: {type(node).__name__}")


def calculator(expression: str) -> int | float:
    """Evaluate an arithmetic expression and return the number.

    Supports + - * / // % and ** (^ also means power), parentheses, the constants pi, e and tau,
    and the functions abs, round, min, max, sqrt, exp, log, log10, log2, sin, cos, tan, floor,
    ceil and factorial.

    Args:
        expression: The expression to evaluate, e.g. "(3 + 4) * 12" or "sqrt(2) ^ 2".
    """
    text = expression.strip().replace("^", "**").replace("\u00d7", "*").replace("\u00f7", "/")
    if not text:
        raise ValueError("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not a valid arithmetic expression: {exc.msg}") from exc
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ValueError("the expression is too complex")
    try:
        result = _evaluate(tree)
    except ZeroDivisionError as exc:
        raise ValueError("division by zero") from exc
    except OverflowError as exc:
        raise ValueError("the result is too large") from exc
    if isinstance(result, float) and result.is_integer() and abs(result) < 2**53:
        return int(result)
    if isinstance(result, float):
        return float(f"{result:.15g}")  # hide binary noise such as 0.1 + 0.2 = 0.30000000000000004
    return int(result)


def current_time(timezone: str | None = None) -> str:
    """The current date and time, in ISO 8601 with the UTC offset and zone name.

    Args:
        timezone: An IANA time zone such as "Europe/Paris" or "America/New_York"; UTC when omitted.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415 - loads sysconfig: only when asked

    name = (timezone or "UTC").strip() or "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris'") from exc
    now = datetime.now(zone)
    return f"{now.isoformat(timespec='seconds')} ({name})"
