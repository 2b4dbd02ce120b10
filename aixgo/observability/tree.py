"""``aixgo run --trace``: each turn's spans as a compact tree on stderr, for someone without a collector.

A span processor of the SDK: it keeps the ended spans of a trace until the span that started it in
this process (its parent is remote or absent) ends, then prints them as a tree::

    invoke_agent assistant  12.3 ms  answered, 2 steps, 1 tool call, 36 tokens
    ├─ chat gpt-4o  4.1 ms  tool_calls, 11→7 tokens
    ├─ execute_tool calculator  0.2 ms
    └─ chat gpt-4o  3.9 ms  stop, 22→1 tokens
    trace 4bf92f3577b34da6a3ce929d0e0e4736
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, TextIO

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import StatusCode

MAX_KEPT = 10_000
"""Spans kept per process while waiting for their root (a trace that never ends is dropped past it)."""


class TreePrinter(SpanProcessor):
    """Prints the tree of each trace's local root when it ends (see the module)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._spans: dict[int, list[ReadableSpan]] = defaultdict(list)
        self._kept = 0

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        with self._lock:
            if span.parent is not None and not span.parent.is_remote:
                if self._kept < MAX_KEPT:
                    self._spans[context.trace_id].append(span)
                    self._kept += 1
                return
            spans = self._spans.pop(context.trace_id, [])
            self._kept -= len(spans)
        self._stream.write(render(span, spans))
        self._stream.flush()


def render(root: ReadableSpan, spans: list[ReadableSpan]) -> str:
    """``root`` and those of ``spans`` below it, one line each, children in the order they started."""
    children: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        if span.parent is not None:
            children[span.parent.span_id].append(span)
    lines = [_line(root)]

    def walk(span: ReadableSpan, prefix: str) -> None:
        context = span.context
        below = sorted(children.get(context.span_id, []) if context else [], key=lambda s: s.start_time or 0)
        for index, child in enumerate(below):
            last = index == len(below) - 1
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{_line(child)}")
            walk(child, prefix + ("   " if last else "│  "))

    walk(root, "")
    trace_id = root.context.trace_id if root.context else 0
    lines.append(f"trace {trace_id:032x}")
    return "\n".join(lines) + "\n"


def _line(span: ReadableSpan) -> str:
    duration = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    facts = _facts(span.attributes or {})
    if span.status.status_code is StatusCode.ERROR:
        facts.append(f"error: {span.status.description or 'failed'}")
    for event in span.events:
        if event.name == "gen_ai.client.retry":
            facts.append(f"retry after {_text(event.attributes, 'error.type')}")
    return f"{span.name}  {duration:.1f} ms" + (f"  {', '.join(facts)}" if facts else "")


def _text(attributes: Mapping[str, Any] | None, key: str) -> str:
    value = (attributes or {}).get(key)
    status = (attributes or {}).get("http.response.status_code")
    return f"{value} {status}" if status is not None else str(value)


def _facts(attributes: Mapping[str, Any]) -> list[str]:
    facts: list[str] = []
    outcome = attributes.get("aixgo.turn.outcome")
    if outcome is not None:
        facts.append(str(outcome))
        steps = attributes.get("aixgo.turn.steps")
        if steps is not None:
            facts.append(f"{steps} step{'s' if steps != 1 else ''}")
        tools = attributes.get("aixgo.turn.tool_calls")
        if tools:
            facts.append(f"{tools} tool call{'s' if tools != 1 else ''}")
    finish = attributes.get("gen_ai.response.finish_reasons")
    if finish:
        facts.append(",".join(finish))
    used_in, used_out = attributes.get("gen_ai.usage.input_tokens"), attributes.get("gen_ai.usage.output_tokens")
    if used_in is not None and used_out is not None:
        facts.append(f"{used_in}→{used_out} tokens" if outcome is None else f"{used_in + used_out} tokens")
    first = attributes.get("gen_ai.response.time_to_first_chunk")
    if first is not None:
        facts.append(f"first chunk {first * 1000:.0f} ms")
    source = attributes.get("aixgo.tool.source")
    if source is not None and source != "python":
        facts.append(str(source))
    return facts


__all__ = ["TreePrinter", "render"]
