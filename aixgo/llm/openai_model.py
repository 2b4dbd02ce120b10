"""``OpenAIChatModel``: the :class:`~aixgo.llm.protocol.ChatModel` for OpenAI and every compatible server.

Built on the official ``openai`` package (``AsyncOpenAI``) with the client's own retries off;
:mod:`aixgo.llm.retry` retries instead. Works with OpenAI, Azure-style gateways, Ollama, vLLM,
llama.cpp server … through ``base_url``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai
from openai.types.chat import ChatCompletion

from aixgo.errors import (
    ContextWindowExceededError,
    LLMConfigError,
    LLMError,
    LLMRequestError,
    LLMResponseError,
    LLMUnavailableError,
)
from aixgo.llm.compat import outgoing_messages, tool_fields
from aixgo.llm.protocol import (
    Message,
    ModelResponse,
    ModelSettings,
    StreamItem,
    TextDelta,
    ToolCall,
    ToolSchema,
    Usage,
)
from aixgo.llm.retry import NOT_AN_API_STATUS, RetryPolicy, call_with_retries, server_message
from aixgo.logs import get_logger

log = get_logger("aixgo.llm")

DEFAULT_TIMEOUT = 60.0
DEFAULT_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_API_KEY = "aixgo-no-key"
"""Sent to servers configured by ``base_url`` alone (local servers usually ignore the key)."""
CHAT_PATH = "/chat/completions"
"""Requests are posted as plain JSON through the client (its auth, base URL, headers, timeouts and
errors): its typed ``chat.completions.create`` re-walks every message of every request, which
costs about 1 ms for one message and 12 ms for 40 on this project's benchmark machine."""


def _redact_url(url: str) -> str:
    """``url`` without user info (``https://user:pass@host`` → ``https://host``), for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class OpenAIChatModel:
    """A chat model served over the OpenAI chat-completions API.

    Args:
        model: default model name, used when :class:`ModelSettings` names none.
        api_key: the key; else ``OPENAI_API_KEY``. May be omitted when a base URL is set (local servers).
        base_url: the API root (e.g. ``http://localhost:11434/v1``); else ``OPENAI_BASE_URL``, else OpenAI.
        timeout: seconds per attempt (connect, read and write) before it counts as a timeout.
        max_retries: retries after the first attempt for retryable failures (ignored if ``retry_policy``).
        retry_policy: full control of retries and backoff (see :class:`~aixgo.llm.retry.RetryPolicy`).
        default_headers: extra HTTP headers for every request (e.g. a gateway's routing header).
        client: an ``AsyncOpenAI`` to use as is (then key, URL, timeout and headers are its own).

    Raises:
        LLMConfigError: no key and no base URL, or a malformed base URL or timeout.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        retry_policy: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        self.model = model
        self.retry_policy = retry_policy if retry_policy is not None else RetryPolicy(max_retries=max_retries)
        if timeout is not None and timeout <= 0:
            raise LLMConfigError(f"llm timeout must be a positive number of seconds, got {timeout!r}")
        self._timeout = timeout
        self._headers = dict(default_headers or {})
        self._fixed_client = client
        # One AsyncOpenAI per event loop: its connection pool is bound to the loop that opened it,
        # and sync callers (asyncio.run per call) create a fresh loop each time. Clients of closed
        # loops are dropped (they pin their loop, so a weak mapping would never release them).
        self._clients: dict[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = {}
        if client is not None:
            self._api_key = client.api_key
            self.base_url = str(client.base_url)
            return
        key = api_key or os.environ.get("OPENAI_API_KEY") or None
        url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            raise LLMConfigError(f"llm base_url must be an http:// or https:// URL, got {_redact_url(url)!r}")
        if key is None:
            if url is None:
                raise LLMConfigError(
                    "no API key for the model server: set OPENAI_API_KEY (or llm.api_key in the config), "
                    "or set OPENAI_BASE_URL (llm.base_url) to a local OpenAI-compatible server "
                    "that needs no key"
                )
            key = PLACEHOLDER_API_KEY
        self._api_key = key
        self.base_url = url or DEFAULT_BASE_URL

    @property
    def where(self) -> str:
        """The server's base URL without credentials, as shown in errors and logs."""
        return _redact_url(self.base_url)

    def __repr__(self) -> str:
        return f"OpenAIChatModel(model={self.model!r}, base_url={self.where!r})"

    def _client(self) -> openai.AsyncOpenAI:
        if self._fixed_client is not None:
            return self._fixed_client
        loop = asyncio.get_running_loop()
        for stale in [other for other in self._clients if other.is_closed()]:
            del self._clients[stale]
        client = self._clients.get(loop)
        if client is None:
            client = openai.AsyncOpenAI(
                api_key=self._api_key,
                base_url=self.base_url,
                timeout=self._timeout,
                max_retries=0,
                default_headers=self._headers or None,
            )
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close this event loop's HTTP connections (clients of finished loops are just dropped)."""
        clients = list(self._clients.items())
        self._clients.clear()
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for owner, client in clients:
            if owner is loop:
                await client.close()

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema],
        settings: ModelSettings,
    ) -> ModelResponse:
        """Send one chat-completions request (retrying as the policy allows) and return the answer.

        Raises:
            LLMConfigError: no model name in ``settings`` or the constructor.
            LLMRequestError: the server refused the request (400/401/403/404 …); the message says what to fix.
            LLMUnavailableError: 429/5xx/timeouts/connection errors outlasted the retries.
            LLMResponseError: the server answered something that is not a chat completion.
        """
        model, body, options = self._request(messages, tools, settings)
        client = self._client()
        started = time.perf_counter()

        async def send() -> Any:
            return await client.post(CHAT_PATH, cast_to=object, body=body, options=options)

        completion = await self._send(send, model)
        response = to_model_response(completion, self.where)
        log.debug(
            "llm.complete",
            model=model,
            messages=len(messages),
            tools=len(tools),
            finish_reason=response.finish_reason,
            tool_calls=len(response.tool_calls),
            total_tokens=response.usage.total_tokens if response.usage else None,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response

    def _request(
        self, messages: Sequence[Message], tools: Sequence[ToolSchema], settings: ModelSettings
    ) -> tuple[str, dict[str, Any], Any]:
        """The model name, the JSON body and the client's request options (a timeout) of one request."""
        model = settings.model or self.model
        if not model:
            raise LLMConfigError("no model name: set the agent's `model` (or pass model= to OpenAIChatModel)")
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": outgoing_messages(messages),
            **tool_fields(tools, settings.tool_choice),
        }
        if settings.temperature is not None:
            kwargs["temperature"] = settings.temperature
        if settings.max_tokens is not None:
            kwargs["max_tokens"] = settings.max_tokens
        if settings.stop:
            kwargs["stop"] = list(settings.stop)
        if settings.top_p is not None:
            kwargs["top_p"] = settings.top_p
        if settings.seed is not None:
            kwargs["seed"] = settings.seed
        if settings.extra_body:
            kwargs.update(settings.extra_body)
        options = {"timeout": settings.timeout} if settings.timeout is not None else {}
        return model, kwargs, options

    async def _send(self, send: Callable[[], Awaitable[Any]], model: str) -> Any:
        """``send()`` with the retry policy, its failures turned into :class:`~aixgo.errors.LLMError`."""
        try:
            return await call_with_retries(send, self.retry_policy, where=self.where, log_fields={"model": model})
        except openai.APIStatusError as exc:
            raise _request_error(exc, model, self.where) from exc
        except openai.APIResponseValidationError as exc:
            raise LLMResponseError(
                f"{self.where} sent a response that is not a chat completion: {exc}"
            ) from exc
        except ValueError as exc:  # a body labelled JSON that is not (the client parses it as it arrives)
            raise LLMResponseError(
                f"{self.where} sent a response that is not a chat completion: its JSON is broken ({exc})"
            ) from exc
        except openai.OpenAIError as exc:
            raise LLMError(f"the openai client failed talking to {self.where}: {exc}") from exc

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema],
        settings: ModelSettings,
    ) -> AsyncIterator[StreamItem]:
        """Stream one answer (``stream=True``): :class:`~aixgo.llm.TextDelta` pieces as they arrive, then
        the whole :class:`ModelResponse`, tool-call deltas reassembled. Usage is asked for with
        ``stream_options`` and sent again without it if the server refuses that field. Starting the
        request is retried as :meth:`complete` is; a stream cut off midway is an error, not retried
        (its text was already passed on)."""
        model, body, options = self._request(messages, tools, settings)
        client = self._client()
        usage_option: dict[str, Any] = {"stream_options": {"include_usage": True}}

        async def send() -> Any:
            return await client.post(
                CHAT_PATH,
                cast_to=object,
                body={**body, "stream": True, **usage_option},
                options=options,
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )

        try:
            chunks = await self._send(send, model)
        except LLMRequestError as exc:
            if "stream_options" not in str(exc) or isinstance(exc, ContextWindowExceededError):
                raise
            usage_option = {}  # a server that does not know stream_options: no usage then
            chunks = await self._send(send, model)
        assembler = StreamAssembler(self.where)
        try:
            async for chunk in chunks:
                text = assembler.add(chunk)
                if text:
                    yield TextDelta(text)
        except openai.OpenAIError as exc:
            raise LLMUnavailableError(f"the stream from {self.where} broke off: {exc}") from exc
        except ValueError as exc:
            raise LLMResponseError(f"{self.where} sent a stream chunk whose JSON is broken ({exc})") from exc
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                await close()
        yield assembler.response()


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


def _request_error(exc: openai.APIStatusError, model: str, where: str) -> LLMRequestError:
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


def _field(value: Any, name: str) -> Any:
    """``value[name]`` of a JSON object, or ``value.name`` of an ``openai`` model; None when absent."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def _arguments_text(value: object) -> str:
    # Some servers (Ollama among them) send the arguments as a JSON object instead of a string.
    if isinstance(value, str):
        return value
    if value is None:
        return "{}"
    return json.dumps(value)


def _tool_calls(message: Any) -> list[ToolCall]:
    found: list[tuple[Any, Any, str]] = []
    for raw in _field(message, "tool_calls") or []:
        function = _field(raw, "function")
        custom = _field(raw, "custom")
        if function is not None:
            name, arguments = _field(function, "name") or "", _arguments_text(_field(function, "arguments"))
        elif custom is not None:
            name, arguments = _field(custom, "name") or "", _arguments_text(_field(custom, "input"))
        else:
            continue
        found.append((_field(raw, "id"), name, arguments))
    return _with_unique_ids(found)


def _with_unique_ids(found: Sequence[tuple[Any, Any, str]]) -> list[ToolCall]:
    """``(id, name, arguments)`` as tool calls, with a fresh id where a server omitted or repeated one."""
    calls: list[ToolCall] = []
    seen: set[str] = set()
    for given, name, arguments in found:
        call_id = str(given) if given and given not in seen else f"call_{secrets.token_hex(8)}"
        seen.add(call_id)
        calls.append(ToolCall(id=call_id, name=str(name or ""), arguments=arguments))
    return calls


def _count(value: object) -> int:
    """A token count as sent (servers send ints, some floats); 0 for anything else (NaN, Infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value) if math.isfinite(value) else 0


def _usage(raw: Any) -> Usage | None:
    if raw is None:
        return None
    prompt = _count(_field(raw, "prompt_tokens"))
    completion = _count(_field(raw, "completion_tokens"))
    total = _count(_field(raw, "total_tokens")) or prompt + completion
    return Usage(prompt, completion, total)


class StreamAssembler:
    """Builds a :class:`ModelResponse` from streamed chat-completion chunks (tool-call arguments
    arrive in pieces, keyed by their ``index``)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.text: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self.chunks = 0

    def add(self, chunk: Any) -> str:
        """Take one chunk; returns the text it adds to the answer ("" for none)."""
        self.chunks += 1
        self.model = _field(chunk, "model") or self.model
        usage = _field(chunk, "usage")
        if usage is not None:
            self.usage = _usage(usage)
        choices = _field(chunk, "choices")
        if not isinstance(choices, list) or not choices:
            return ""
        choice = choices[0]
        self.finish_reason = _field(choice, "finish_reason") or self.finish_reason
        delta = _field(choice, "delta")
        if delta is None:
            return ""
        for raw in _field(delta, "tool_calls") or []:
            index = _field(raw, "index")
            slot = self.calls.setdefault(index if isinstance(index, int) else len(self.calls), {
                "id": "", "name": "", "arguments": ""})
            slot["id"] = _field(raw, "id") or slot["id"]
            function = _field(raw, "function")
            if function is not None:
                slot["name"] = _field(function, "name") or slot["name"]
                slot["arguments"] += _arguments_text(_field(function, "arguments") or "")
        text = _field(delta, "content")
        if isinstance(text, str) and text:
            self.text.append(text)
            return text
        return ""

    def response(self) -> ModelResponse:
        """The whole answer."""
        if not self.chunks:
            raise LLMResponseError(f"{self.where} ended the stream without sending anything")
        calls = _with_unique_ids(
            [(slot["id"], slot["name"], slot["arguments"] or "{}") for _, slot in sorted(self.calls.items())]
        )
        return ModelResponse(
            content="".join(self.text) if self.text or not calls else None,
            tool_calls=calls,
            finish_reason=self.finish_reason,
            usage=self.usage,
            model=self.model,
        )


def to_model_response(completion: object, where: str = "the model server") -> ModelResponse:
    """Convert a chat completion (its JSON object, or an ``openai`` ``ChatCompletion``) into a
    :class:`ModelResponse`, tolerating servers' quirks: no ``usage``, ``content: null``, missing or
    repeated tool-call ids, object arguments, odd token counts.

    Raises:
        LLMResponseError: not a chat completion, or one without choices.
    """
    if not isinstance(completion, ChatCompletion | dict):
        got = (
            "an HTML page"
            if isinstance(completion, str) and "<html" in completion.lower()
            else type(completion).__name__
        )
        raise LLMResponseError(
            f"{where} did not answer with a chat completion (it sent {got}): it is not an OpenAI-compatible API; "
            "check that llm.base_url points at one (it usually ends in /v1)"
        )
    choices = _field(completion, "choices")
    if not isinstance(choices, list) or not choices:
        raise LLMResponseError(f"{where} answered with no choices")
    choice = choices[0]
    message = _field(choice, "message")
    if message is None:
        raise LLMResponseError(f"{where} answered a choice without a message")
    calls = _tool_calls(message)
    content = _field(message, "content")
    if content is None and not calls:
        content = _field(message, "refusal")
    return ModelResponse(
        content=_text_or_none(content),
        tool_calls=calls,
        finish_reason=_text_or_none(_field(choice, "finish_reason")),
        usage=_usage(_field(completion, "usage")),
        model=_text_or_none(_field(completion, "model")),
    )


def _text_or_none(value: object) -> str | None:
    """A server's string field as is; any other JSON value (a list of content parts) as JSON text."""
    return value if value is None or isinstance(value, str) else json.dumps(value)
