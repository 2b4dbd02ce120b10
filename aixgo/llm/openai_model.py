"""``OpenAIChatModel``: the :class:`~aixgo.llm.protocol.ChatModel` for OpenAI and every compatible server.

Built on the official ``openai`` package (``AsyncOpenAI``) with the client's own retries off;
:mod:`aixgo.llm.retry` retries instead; :mod:`aixgo.llm.refusals` turns refusals into errors and
:mod:`aixgo.llm.answers` reads the answers. Works with OpenAI, Azure-style gateways, Ollama, vLLM,
llama.cpp server … through ``base_url``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai

from aixgo.errors import (
    ContextWindowExceededError,
    LLMConfigError,
    LLMError,
    LLMRequestError,
    LLMResponseError,
    LLMUnavailableError,
)
from aixgo.llm.answers import StreamAssembler, to_model_response
from aixgo.llm.compat import outgoing_messages, tool_fields
from aixgo.llm.protocol import (
    Message,
    ModelResponse,
    ModelSettings,
    StreamItem,
    TextDelta,
    ToolSchema,
    as_stream,
)
from aixgo.llm.quirks import CLEAN_TOOL_SCHEMAS, NO_STREAM_WITH_TOOLS, QUIRKS
from aixgo.llm.refusals import request_error
from aixgo.llm.retry import RetryPolicy, call_with_retries
from aixgo.llm.tool_schemas import clean_tool_schemas, refuses_tool_schemas
from aixgo.llm.watch import current as current_watcher
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


class _NothingStreamed(LLMResponseError):
    """The stream ended before its first chunk."""


_NOT_ABOUT_STREAMING = (401, 403, 404)
"""Refusals of a streamed request that a request without streaming would get too."""


def _cannot_stream(exc: LLMError) -> bool:
    """Whether a failed streamed request may be one the server cannot stream: it sent nothing, or it
    refused the request for a reason that is not the key, the model, the context window or a tool
    schema."""
    if isinstance(exc, _NothingStreamed):
        return True
    return (
        isinstance(exc, LLMRequestError)
        and not isinstance(exc, ContextWindowExceededError)
        and exc.status_code not in _NOT_ABOUT_STREAMING
        and not refuses_tool_schemas(str(exc))
    )


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

        Tool schemas go as they are; a server that refuses one of them (OpenAI: "Invalid schema for
        function"; ollama: "cannot unmarshal") is asked again with cleaned schemas
        (:mod:`aixgo.llm.tool_schemas`), and when that works, that server and model get cleaned
        schemas from then on.

        Raises:
            LLMConfigError: no model name in ``settings`` or the constructor.
            LLMRequestError: the server refused the request (400/401/403/404 …); the message says what to fix.
            LLMUnavailableError: 429/5xx/timeouts/connection errors outlasted the retries.
            LLMResponseError: the server answered something that is not a chat completion.
        """
        model = settings.model or self.model or ""
        sent = self._sendable_tools(model, tools)
        try:
            return await self._complete(messages, sent, settings)
        except LLMRequestError as exc:
            cleaned = self._cleaned_after(exc, model, sent)
            if cleaned is None:
                raise
            return await self._complete_cleaned(messages, cleaned, settings, model, str(exc))

    async def _complete_cleaned(
        self,
        messages: Sequence[Message],
        cleaned: list[dict[str, Any]],
        settings: ModelSettings,
        model: str,
        refusal: str,
    ) -> ModelResponse:
        """The request again with cleaned tool schemas; when it works, remember to clean them."""
        response = await self._complete(messages, cleaned, settings)
        if QUIRKS.learn(self.where, model, CLEAN_TOOL_SCHEMAS):
            log.warning("llm.tool_schemas.cleaned", where=self.where, model=model, reason=refusal,
                        hint="this server and model get cleaned tool schemas from now on")
        return response

    def _sendable_tools(self, model: str, tools: Sequence[ToolSchema]) -> Sequence[ToolSchema]:
        """``tools`` as this server and model take them: cleaned if it refused schemas before."""
        if tools and QUIRKS.has(self.where, model, CLEAN_TOOL_SCHEMAS):
            return clean_tool_schemas(tools)
        return tools

    def _cleaned_after(
        self, exc: LLMError, model: str, sent: Sequence[ToolSchema]
    ) -> list[dict[str, Any]] | None:
        """The cleaned tools to try after ``exc``, when it refused the tool schemas as sent and
        cleaning changes them; else None."""
        if not sent or QUIRKS.has(self.where, model, CLEAN_TOOL_SCHEMAS) or not refuses_tool_schemas(str(exc)):
            return None
        cleaned = clean_tool_schemas(sent)
        return cleaned if cleaned != [dict(tool) for tool in sent] else None

    async def _complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema],
        settings: ModelSettings,
    ) -> ModelResponse:
        """One request (retried as the policy allows)."""
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
        options: dict[str, Any] = {"timeout": settings.timeout} if settings.timeout is not None else {}
        watcher = current_watcher()
        if watcher is not None:
            headers = watcher.sending(self.where, "openai")
            if headers:
                options["headers"] = dict(headers)
        return model, kwargs, options

    async def _send(self, send: Callable[[], Awaitable[Any]], model: str) -> Any:
        """``send()`` with the retry policy, its failures turned into :class:`~aixgo.errors.LLMError`."""
        try:
            return await call_with_retries(send, self.retry_policy, where=self.where, log_fields={"model": model})
        except openai.APIStatusError as exc:
            refusal = request_error(exc, model, self.where)
            watcher = current_watcher()
            if watcher is not None:
                watcher.refused(exc.status_code, type(refusal).__name__)
            raise refusal from exc
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
        (its text was already passed on).

        With tools offered, a server that ends the stream before its first chunk or refuses the
        streamed request (llama-cpp-python closes it empty) is asked again without streaming, and the
        answer's text given as one delta; when that works, later requests with tools to the same
        server and model are sent without streaming from the start (:mod:`aixgo.llm.quirks`). A
        refused tool schema is handled as :meth:`complete` handles it (that step's answer then comes
        whole; later steps stream with cleaned schemas)."""
        model = settings.model or self.model or ""
        if tools and QUIRKS.has(self.where, model, NO_STREAM_WITH_TOOLS):
            for item in as_stream(await self.complete(messages, tools, settings)):
                yield item
            return
        sent = self._sendable_tools(model, tools)
        started = False
        try:
            async for item in self._stream(messages, sent, settings):
                started = True
                yield item
            return
        except LLMError as exc:
            if started or not tools:
                raise
            cleaned = self._cleaned_after(exc, model, sent)
            if cleaned is not None:
                for item in as_stream(await self._complete_cleaned(messages, cleaned, settings, model, str(exc))):
                    yield item
                return
            if not _cannot_stream(exc):
                raise
            reason = str(exc)
        response = await self.complete(messages, tools, settings)
        if QUIRKS.learn(self.where, model, NO_STREAM_WITH_TOOLS):
            log.warning("llm.stream.no_tools", where=self.where, model=model, reason=reason,
                        hint="requests with tools to this server and model are no longer streamed")
        for item in as_stream(response):
            yield item

    async def _stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema],
        settings: ModelSettings,
    ) -> AsyncIterator[StreamItem]:
        """One streamed request (see :meth:`stream`); :class:`_NothingStreamed` if it sent no chunk."""
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
        watcher = current_watcher()
        try:
            async for chunk in chunks:
                if watcher is not None and not assembler.chunks:
                    watcher.first_chunk()
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
        if not assembler.chunks:
            raise _NothingStreamed(f"{self.where} ended the stream without sending anything")
        yield assembler.response()
