"""How a server's refusal of a chat request becomes an aixgo error: the status code and the
server's words read into what the user should do, and a context-window overflow read into the
window and the tokens the server names (OpenAI, vLLM, llama.cpp and Ollama word it differently)."""

from __future__ import annotations

import re

import openai

from aixgo.errors import ContextWindowExceededError, LLMRequestError
from aixgo.llm.retry import NOT_AN_API_STATUS, server_message

_CONTEXT_OVERFLOW = re.compile(
    r"context_length_exceeded|maximum context length|context window|exceeds the available context size"
    r"|context size|too many tokens|prompt is too long",
    re.IGNORECASE,
)
_NUMBER_OF_TOKENS = re.compile(
    r"(?:maximum context length|context size|context window)\D{0,40}?(\d{3,7})", re.I
)


def context_limit(message: str) -> int | None:
    """For a server message that says the request does not fit the context window: the window's size
    in tokens when it says it (0 when it does not); None for any other message."""
    if not _CONTEXT_OVERFLOW.search(message):
        return None
    found = _NUMBER_OF_TOKENS.search(message)
    return int(found.group(1)) if found else 0


_PROMPT_TOKENS = re.compile(r"(\d{2,9}) in the messages", re.IGNORECASE)  # vLLM: requested = prompt + answer
_REQUESTED_TOKENS = re.compile(r"(?:resulted in|requested|request \()\s*(\d{2,9}) tokens", re.IGNORECASE)


def _context_overflow(exc: openai.APIStatusError, detail: str) -> tuple[int, int | None] | None:
    """``(window, prompt tokens)`` for a refusal that says the request does not fit the context window
    (0 / None when it does not say them), from the message or the error's fields (OpenAI's
    ``code: context_length_exceeded``, llama.cpp's ``n_ctx`` and ``n_prompt_tokens``); None otherwise."""
    body = exc.body if isinstance(exc.body, dict) else {}
    fields = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    kind = f"{fields.get('code') or ''} {fields.get('type') or ''}"
    limit = context_limit(detail)
    if limit is None and ("context_length_exceeded" in kind or "exceed_context_size" in kind):
        limit = 0
    if limit is None:
        return None
    n_ctx, n_prompt = fields.get("n_ctx"), fields.get("n_prompt_tokens")
    if not limit and type(n_ctx) is int and n_ctx > 0:
        limit = n_ctx
    requested = n_prompt if type(n_prompt) is int and n_prompt > 0 else None
    if requested is None and (found := _PROMPT_TOKENS.search(detail) or _REQUESTED_TOKENS.search(detail)):
        requested = int(found.group(1))
    return limit, requested


def request_error(exc: openai.APIStatusError, model: str, where: str) -> LLMRequestError:
    """A refused request, with what to fix."""
    status = exc.status_code
    detail = server_message(exc) or exc.message
    if status == 401:
        text = (
            f"authentication failed (401) at {where}: the API key was refused; "
            "set a valid key in llm.api_key or OPENAI_API_KEY"
        )
    elif status == 403:
        text = (
            f"permission denied (403) at {where}: the API key may not use model {model!r}; "
            "check the key's project and organization access"
        )
    elif status == 404:
        text = (
            f"not found (404) at {where}: no model {model!r} or no chat-completions endpoint; "
            "check the model name and that the base URL ends in /v1"
        )
    elif status in (400, 413) and (overflow := _context_overflow(exc, detail)) is not None:
        limit, requested = overflow
        window = f" of {limit} tokens" if limit else ""
        return ContextWindowExceededError(
            f"the conversation no longer fits the model's context window{window} at {where}; start a new "
            "session (or restore an earlier checkpoint), or use a model with a larger window "
            f"(server said: {detail})",
            status_code=status,
            limit=limit or None,
            requested=requested,
        )
    elif status in NOT_AN_API_STATUS or (status in (404, 405) and "<html" in detail.lower()):
        text = (
            f"{where} answered HTTP {status}: it is not an OpenAI-compatible API; check that llm.base_url "
            "points at one (it usually ends in /v1)"
        )
    elif status == 400 and "enable-auto-tool-choice" in detail:
        text = (
            f"{where} (vLLM) was started without tool calling: start it with --enable-auto-tool-choice "
            "--tool-call-parser <parser for the model>, or give the agent tool_choice: none (no tools) "
            "or react_format: text"
        )
    elif status == 400:
        text = (
            f"the request was rejected as invalid (400) by {where}; check the model name {model!r}, "
            "temperature / max_tokens and the tool schemas"
        )
    else:
        text = f"the request was refused (HTTP {status}) by {where}"
    return LLMRequestError(f"{text} (server said: {detail})", status_code=status)
