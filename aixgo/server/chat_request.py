"""What ``POST /v1/chat/completions`` accepts: the whole request is checked (JSON Schema) before a turn
starts, so a refused request stores nothing, and the answer names the wrong field (OpenAI's ``param``).

* **Honoured**: ``model`` (the agent), ``messages`` (the conversation: see :class:`ChatRequest`),
  ``stream``, ``stream_options.include_usage``, ``user``, ``metadata.session_id``, and the sampling
  settings of :data:`SAMPLING` (they override the agent's own for this turn); ``n`` of 1,
  ``response_format`` of type ``text``, ``store: true`` (a session is always stored).
* **Refused** with a 400 (:data:`REFUSED`): what an aixgo agent cannot do for a client — client-side
  tools (the agent's tools are its config's), structured or audio output, log probabilities, more
  than one choice, not storing the conversation.
* Fields OpenAI does not define (vendor extensions) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from aixgo.server.errors import BadRequest
from aixgo.session.history import message_text

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
SAMPLING = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed", "presence_penalty",
            "frequency_penalty")
"""Request fields passed on to the model for this turn, in place of the agent's own settings."""
REFUSED: Mapping[str, str] = {
    "tools": "client-side tools are not supported: an aixgo agent calls the tools of its config",
    "functions": "client-side functions are not supported: an aixgo agent calls the tools of its config",
    "tool_choice": "tool_choice is decided by the agent (client-side tools are not supported)",
    "function_call": "function_call is decided by the agent (client-side functions are not supported)",
    "parallel_tool_calls": "parallel_tool_calls is decided by the agent (client-side tools are not supported)",
    "logprobs": "log probabilities are not returned by aixgo agents",
    "top_logprobs": "log probabilities are not returned by aixgo agents",
    "logit_bias": "logit_bias is not supported",
    "audio": "audio output is not supported",
    "modalities": "only text output is supported",
    "prediction": "predicted outputs are not supported",
    "web_search_options": "web search is not supported: give the agent a tool instead",
    "reasoning_effort": "reasoning_effort is decided by the agent's config",
}
"""Fields refused (400) when a request sets them to anything but null (or their harmless default)."""
_HARMLESS: Mapping[str, tuple[Any, ...]] = {"logprobs": (False,), "modalities": (["text"],),
                                            "parallel_tool_calls": (True,), "tool_choice": ("none", "auto")}


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
        "metadata": _optional("object", properties={"session_id": {"type": "string", "minLength": 1}}),
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
    """The text of the last user message: the turn's input."""
    stream: bool
    include_usage: bool
    user: str | None
    history: tuple[dict[str, Any], ...] = ()
    """The messages before the last user message, as they are stored (``developer`` as ``system``): the
    conversation of a new session. A session that exists already is its stored history instead."""
    session_id: str | None = None
    """``metadata.session_id``: the session to continue (the ``X-Session-Id`` header names it too)."""
    sampling: dict[str, Any] = field(default_factory=dict)
    """The :data:`SAMPLING` fields the request sets."""


def parse_chat_request(body: dict[str, Any]) -> ChatRequest:
    """``body`` as a :class:`ChatRequest`; :class:`~aixgo.server.errors.BadRequest` (400) naming the first
    wrong field otherwise."""
    error = best_match(_VALIDATOR.iter_errors(body))
    if error is not None:
        raise BadRequest(400, describe(error), param=_path(list(error.absolute_path)[:1]) if error.absolute_path else None)
    _refuse_unsupported(body)
    options = body.get("stream_options") or {}
    messages = body["messages"]
    last = last_user_index(messages)
    return ChatRequest(
        agent=body["model"],
        message=message_text(messages[last].get("content")),
        stream=bool(body.get("stream")),
        include_usage=bool(options.get("include_usage")),
        user=body.get("user"),
        history=tuple(stored_message(m, f"messages[{i}]") for i, m in enumerate(messages[:last])),
        session_id=(body.get("metadata") or {}).get("session_id"),
        sampling={name: body[name] for name in SAMPLING if body.get(name) is not None},
    )


def _refuse_unsupported(body: Mapping[str, Any]) -> None:
    for name, reason in REFUSED.items():
        value = body.get(name)
        if value is not None and value not in _HARMLESS.get(name, ()) and value not in ([], {}):
            raise BadRequest(400, f"'{name}': {reason}", param=name)
    response_format = body.get("response_format")
    if response_format is not None and response_format.get("type", "text") != "text":
        raise BadRequest(400, "'response_format': only {\"type\": \"text\"} is supported (an aixgo agent answers "
                              "in text; ask for JSON in the prompt)", param="response_format")
    if body.get("store") is False:
        raise BadRequest(400, "'store': aixgo always stores the conversation (it is the session); "
                              "delete it with DELETE /v1/sessions/{id}", param="store")


def last_user_index(messages: list[dict[str, Any]]) -> int:
    """Where the last user message of ``messages`` is (already checked against the schema); it must
    have text and end the conversation."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index]["role"] == "user":
            if not message_text(messages[index].get("content")).strip():
                raise BadRequest(400, "the last user message has no text", param="messages")
            if index != len(messages) - 1:
                raise BadRequest(400, f"the conversation must end with a user message (messages[{index + 1}] is "
                                      f"{messages[index + 1]['role']!r} after the last one)", param="messages")
            return index
    raise BadRequest(400, "'messages' holds no user message", param="messages")


def last_user_message(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message in ``messages`` (already checked against the schema)."""
    return message_text(messages[last_user_index(messages)].get("content"))


def stored_message(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A client's earlier message as a session stores it (OpenAI's chat shape; ``developer`` is ``system``)."""
    role = message["role"]
    if role == "function":
        raise BadRequest(400, f"'{where}': the deprecated 'function' role is not supported (use 'tool')",
                         param="messages")
    if role == "tool" and not message.get("tool_call_id"):
        raise BadRequest(400, f"'{where}.tool_call_id' is required for a tool message", param="messages")
    stored: dict[str, Any] = {"role": "system" if role == "developer" else role, "content": message.get("content")}
    for key in ("name", "tool_calls", "tool_call_id"):
        if message.get(key) is not None:
            stored[key] = message[key]
    return stored


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


__all__ = ["CHAT_REQUEST_SCHEMA", "REFUSED", "ROLES", "SAMPLING", "ChatRequest", "describe", "last_user_index",
           "last_user_message", "parse_chat_request", "stored_message"]
