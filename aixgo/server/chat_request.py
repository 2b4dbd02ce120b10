"""What ``POST /v1/chat/completions`` accepts: the whole request is checked (JSON Schema) before a turn
starts, so a refused request stores nothing, and the answer says which field is wrong.

Every field of OpenAI's request that aixgo reads is typed here, and so are the sampling settings it
does not apply (the agent's config decides ``temperature``, ``max_tokens``, tools, …): a malformed one
is still refused, as OpenAI refuses it. Fields this schema does not know are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from aixgo.server.errors import BadRequest
from aixgo.session.history import message_text

ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def _optional(kind: str, **rules: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **rules}


CHAT_REQUEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/message"}},
        "stream": _optional("boolean"),
        "stream_options": _optional("object", properties={"include_usage": _optional("boolean")}),
        "user": _optional("string"),
        "n": _optional("integer", minimum=1, maximum=1),
        "temperature": _optional("number", minimum=0, maximum=2),
        "top_p": _optional("number", minimum=0, maximum=1),
        "max_tokens": _optional("integer", minimum=1),
        "max_completion_tokens": _optional("integer", minimum=1),
        "presence_penalty": _optional("number", minimum=-2, maximum=2),
        "frequency_penalty": _optional("number", minimum=-2, maximum=2),
        "stop": {"type": ["string", "array", "null"], "items": {"type": "string"}, "maxItems": 4},
        "seed": _optional("integer"),
        "logprobs": _optional("boolean"),
        "top_logprobs": _optional("integer", minimum=0, maximum=20),
        "logit_bias": _optional("object"),
        "tools": _optional("array", items={"type": "object"}),
        "tool_choice": {"type": ["string", "object", "null"]},
        "parallel_tool_calls": _optional("boolean"),
        "response_format": _optional("object"),
        "metadata": _optional("object"),
        "store": _optional("boolean"),
    },
    "$defs": {
        "message": {
            "type": "object",
            "required": ["role"],
            "properties": {
                "role": {"enum": list(ROLES)},
                "content": {"type": ["string", "array", "null"]},
                "name": {"type": "string"},
                "tool_calls": _optional("array", items={"type": "object"}),
                "tool_call_id": {"type": "string"},
            },
        }
    },
}
_VALIDATOR = Draft202012Validator(CHAT_REQUEST_SCHEMA)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A checked chat request: what a turn needs from it."""

    agent: str
    message: str
    """The text of the last user message (with a session, the stored history is the rest)."""
    stream: bool
    include_usage: bool
    user: str | None


def parse_chat_request(body: dict[str, Any]) -> ChatRequest:
    """``body`` as a :class:`ChatRequest`; :class:`~aixgo.server.errors.BadRequest` (400) naming the first
    wrong field otherwise."""
    error = best_match(_VALIDATOR.iter_errors(body))
    if error is not None:
        raise BadRequest(400, describe(error))
    options = body.get("stream_options") or {}
    return ChatRequest(
        agent=body["model"],
        message=last_user_message(body["messages"]),
        stream=bool(body.get("stream")),
        include_usage=bool(options.get("include_usage")),
        user=body.get("user"),
    )


def last_user_message(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message in ``messages`` (already checked against the schema)."""
    for message in reversed(messages):
        if message["role"] == "user":
            content = message_text(message.get("content"))
            if content.strip():
                return content
            raise BadRequest(400, "the last user message has no text")
    raise BadRequest(400, "'messages' holds no user message")


_KINDS = {"object": "an object", "array": "a list", "string": "a string", "integer": "a whole number",
          "number": "a number", "boolean": "true or false", "null": "null"}


def describe(error: ValidationError) -> str:
    """One line naming the field (``messages[0].role``) and what is wrong with it."""
    where = _path(error.absolute_path)
    rule, instance = error.validator, cast("Any", error.instance)
    value: Any = error.validator_value
    if rule == "required":
        missing = next(name for name in value if name not in instance)
        return f"'{_path([*error.absolute_path, missing])}' is required"
    if rule == "type":
        kinds = [value] if isinstance(value, str) else list(value)
        return f"'{where}' must be {' or '.join(_KINDS[k] for k in kinds)}, found {_kind(instance)}"
    if rule == "enum":
        return f"'{where}' must be one of {', '.join(map(str, value))}, found {instance!r}"
    if rule in ("minimum", "maximum"):
        return f"'{where}' must be {'at least' if rule == 'minimum' else 'at most'} {value}, found {instance!r}"
    if rule == "minItems":
        return f"'{where}' must not be empty" if value == 1 else f"'{where}' needs at least {value} items"
    if rule == "maxItems":
        return f"'{where}' may have at most {value} items"
    if rule == "minLength":
        return f"'{where}' must not be empty"
    return f"'{where}': {error.message}"  # pragma: no cover - every rule the schema uses is worded above


def _path(parts: Sequence[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the request body"


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for kind, python in (("object", dict), ("array", list), ("string", str), ("integer", int), ("number", float)):
        if isinstance(value, python):
            return _KINDS[kind]
    return "null"


__all__ = ["CHAT_REQUEST_SCHEMA", "ROLES", "ChatRequest", "describe", "last_user_message", "parse_chat_request"]
