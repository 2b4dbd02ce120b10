"""An MCP tool call's outcome as a :class:`~aixgo.agents.tools.base.ToolResult`: text for the model,
and the result itself, bounded, for the session.

The model reads ``content``: the text blocks, then a line for each other block (an image, a
resource link …), or the structured content as JSON when the server sent no blocks. The session's
``tool_result`` entry also stores ``output``: the server, the tool, ``is_error``, the content blocks as
the server sent them (MCP's JSON shapes), ``structured_content``, and ``cut``: what was left out and
why. Text beyond ``max_chars`` is cut, in ``content`` and in ``output`` alike; images and audio beyond
``max_image_bytes`` are not stored (their size and type are); neither is ever cut silently.
"""

from __future__ import annotations

import json
from typing import Any

import mcp.types as mt

from aixgo.agents.tools.base import ToolResult, bounded
from aixgo.agents.tools.mcp.connection import CallFailure


def to_tool_result(
    server: str, tool: str, outcome: mt.CallToolResult | CallFailure, *, max_chars: int, max_image_bytes: int
) -> ToolResult:
    """The observation for ``outcome`` (see the module docstring)."""
    if isinstance(outcome, CallFailure):
        return ToolResult(f"Error: {outcome.message}", True,
                          {"server": server, "tool": tool, "is_error": True, "failure": outcome.kind})
    cut: list[str] = []
    budget = max_chars
    blocks: list[dict[str, Any]] = []
    lines: list[str] = []
    for number, block in enumerate(outcome.content):
        stored = block.model_dump(by_alias=True, mode="json", exclude_none=True)
        line, budget = _describe(block, stored, number, budget, max_image_bytes, cut)
        blocks.append(stored)
        if line is not None:
            lines.append(line)
    details: dict[str, Any] = {"server": server, "tool": tool, "is_error": outcome.is_error, "content": blocks}
    structured = outcome.structured_content
    if structured is not None:
        text = json.dumps(structured, ensure_ascii=False, default=str)
        if len(text) <= max_chars:
            details["structured_content"] = structured
        else:
            cut.append(f"structured content: {len(text):,} characters of JSON, more than {max_chars:,}: not stored")
        if not outcome.content:
            lines.append(bounded(text, max_chars))
    if cut:
        details["cut"] = cut
    body = "\n".join(lines) if lines else "(no output)"
    if outcome.is_error:
        body = f"Error: {tool} on MCP server {server!r} returned an error: {body}"
    return ToolResult(body, outcome.is_error, details)


def _describe(
    block: Any, stored: dict[str, Any], number: int, budget: int, max_image_bytes: int, cut: list[str]
) -> tuple[str | None, int]:
    """The model's line for one content block (None: nothing to add), the text budget left, and
    ``stored`` bounded in place."""
    if isinstance(block, mt.TextContent):
        return _text(block.text, stored, "text", number, budget, cut)
    if isinstance(block, mt.ImageContent | mt.AudioContent):
        kind = "image" if isinstance(block, mt.ImageContent) else "audio"
        size = _decoded_size(block.data)
        shown = f"[{kind}: {block.mime_type}, {size:,} bytes"
        if size > max_image_bytes:
            del stored["data"]
            stored["size"] = size
            stored["omitted"] = f"larger than max_image_bytes ({max_image_bytes:,})"
            cut.append(f"block {number} ({kind}, {block.mime_type}): {size:,} bytes, more than "
                       f"max_image_bytes ({max_image_bytes:,}): not stored")
            return f"{shown}; not stored: too large]", budget
        return f"{shown}; not shown to the model]", budget
    if isinstance(block, mt.ResourceLink):
        about = f" ({block.mime_type})" if block.mime_type else ""
        described = f": {block.description}" if block.description else ""
        return f"[resource link: {block.name} <{block.uri}>{about}{described}]", budget
    if isinstance(block, mt.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, mt.TextResourceContents):
            line, budget = _text(resource.text, stored["resource"], "text", number, budget, cut)
            return f"[resource <{resource.uri}>]\n{line}", budget
        size = _decoded_size(resource.blob)
        if size > max_image_bytes:
            resource_stored = stored["resource"]
            del resource_stored["blob"]
            resource_stored["size"] = size
            resource_stored["omitted"] = f"larger than max_image_bytes ({max_image_bytes:,})"
            cut.append(f"block {number} (resource {resource.uri}): {size:,} bytes: not stored")
        return f"[resource <{resource.uri}>: {resource.mime_type or 'binary'}, {size:,} bytes]", budget
    return f"[{stored.get('type', 'unknown')} content]", budget


def _text(text: str, stored: dict[str, Any], key: str, number: int, budget: int, cut: list[str]) -> tuple[str, int]:
    if len(text) <= budget:
        return text, budget - len(text)
    kept = max(budget, 0)
    stored[key] = text[:kept]
    stored["truncated"] = len(text) - kept
    cut.append(f"block {number} (text): {len(text) - kept:,} of {len(text):,} characters cut")
    return f"{text[:kept]}\n… [truncated: {len(text) - kept} more characters]", 0


def _decoded_size(data: str) -> int:
    """Bytes of base64 ``data`` once decoded (counted, not decoded)."""
    text = data.strip()
    return max(0, len(text) * 3 // 4 - text[-2:].count("="))


__all__ = ["to_tool_result"]
