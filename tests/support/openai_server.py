"""A local OpenAI-compatible HTTP server for tests: loopback, free port, scripted replies.

It speaks the real wire protocol of ``POST /v1/chat/completions`` and ``GET /v1/models`` so the
real ``openai`` client can be driven against it. Each chat request takes the next scripted
:class:`Reply` (status code, headers such as ``Retry-After``, a delay, text, tool calls, missing
``usage``, ``content: null``, ``finish_reason: length`` or a raw body) and is recorded.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AUTO = "auto"


@dataclass
class Reply:
    """One scripted answer. ``usage=AUTO`` sends plausible counts; ``None`` omits the field."""

    status: int = 200
    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] | str | None = AUTO
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: Any = None
    error_message: str = "scripted error"
    chunk_delay: float = 0.0
    """Streamed (``stream: true``): seconds between chunks (``delay`` is the time to the first)."""
    hold: threading.Event | None = None
    """Streamed: after the first word, wait (30 s at most) until this is set before sending the rest.
    Not streamed: wait for it before answering at all (a reply that comes only after the client gave up).
    A wait that ran out is counted in :attr:`OpenAIServer.holds_timed_out`."""


def text(content: str | None, **kwargs: Any) -> Reply:
    """A plain assistant answer."""
    return Reply(content=content, **kwargs)


def call(name: str, arguments: dict[str, Any] | str, id: str | None = None) -> dict[str, Any]:
    """A tool call for :func:`tool_calls`; ``arguments`` as a dict, or raw (possibly invalid) text."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": id, "type": "function", "function": {"name": name, "arguments": raw}}


def tool_calls(*calls: dict[str, Any], content: str | None = None, **kwargs: Any) -> Reply:
    """An assistant message calling tools (``content`` null by default, as OpenAI sends it)."""
    return Reply(content=content, tool_calls=list(calls), **kwargs)


def error(status: int, message: str = "scripted error", headers: dict[str, str] | None = None) -> Reply:
    """An OpenAI-style error response."""
    return Reply(status=status, error_message=message, headers=dict(headers or {}))


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


PERSONALITIES = ("openai", "llama.cpp", "ollama", "vllm", "vllm-no-auto-tools")
"""How the server treats what it is sent, after the documented behaviour of real servers:

* ``openai``: accepts every valid request, and refuses (400) a message with a field its role does not
  have ("Additional properties are not allowed ('output' was unexpected)") and tool parameters it
  finds invalid: not ``type: object`` at the root, a root without ``properties``, an array schema
  without ``items`` ("Invalid schema for function 'f': In context=(), object schema missing
  properties.", ``code: invalid_function_parameters``, as MCP servers' users keep meeting).
* ``llama.cpp``: as llama-cpp-python's server with a function-calling chat format, a request without
  ``tool_choice`` is answered as if no tools were offered (they are left out of the prompt), a
  message whose ``content`` is null is refused with a 500 ("Input should be a valid string"), and a
  streamed request that offers tools with ``tool_choice: "auto"`` gets a 200 event stream that ends
  without a single chunk (its log says "Automatic streaming tool choice is not supported").
* ``ollama``: answers tool calls with ``finish_reason: "stop"`` (ollama/ollama#5995 before the fix;
  some OpenAI models do the same), sends no ``usage``, and refuses a tool whose parameter has a list
  of types (``"type": ["string", "null"]``) with a 400 "json: cannot unmarshal array into Go struct
  field .tools.function.parameters.properties.type of type string" (ollama/ollama#10328, 0.6.5).
* ``vllm``: started with ``--enable-auto-tool-choice``: behaves like ``openai``.
* ``vllm-no-auto-tools``: started without it: ``tool_choice: "auto"`` is refused with a 400 saying
  ``"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set``."""


CONTEXT_ERRORS = ("openai", "vllm", "llama.cpp", "llama.cpp-old")
"""How a server with a ``context_limit`` refuses a request that does not fit, after the real ones:

* ``openai``: 400, ``code: context_length_exceeded``, "This model's maximum context length is N
  tokens. However, your messages resulted in M tokens. …";
* ``vllm``: 400, "This model's maximum context length is N tokens. However, you requested T tokens
  (M in the messages, C in the completion). …";
* ``llama.cpp``: 400, ``type: exceed_context_size_error`` with ``n_prompt_tokens`` and ``n_ctx``
  fields and a message without numbers ("the request exceeds the available context size, try
  increasing it");
* ``llama.cpp-old``: 400, "request (M tokens) exceeds the available context size (N tokens), try
  increasing it"."""

_MESSAGE_FIELDS = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "refusal", "audio", "function_call"},
    "tool": {"role", "content", "tool_call_id"},
}
"""The fields OpenAI accepts in a chat message, by role."""

_TOKEN = re.compile(r"\w+|[^\w\s]")


def openai_schema_problem(schema: Any, context: tuple[str, ...] = ()) -> str | None:
    """What OpenAI says about a function's parameters it refuses (None if it accepts them)."""
    if not isinstance(schema, dict):
        return None
    where = f"In context=({', '.join(repr(part) for part in context)}{',' if len(context) == 1 else ''})"
    kind = schema.get("type")
    if not context and kind != "object":
        return f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{kind}\"'."
    if not context and "properties" not in schema:
        return f"{where}, object schema missing properties."
    if kind == "array" and "items" not in schema:
        return f"{where}, array schema missing items."
    for name, inner in (schema.get("properties") or {}).items():
        if (found := openai_schema_problem(inner, (*context, "properties", name))) is not None:
            return found
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict) and (found := openai_schema_problem(schema[key], (*context, key))):
            return found
    for key in ("anyOf", "oneOf", "allOf"):
        for number, inner in enumerate(schema.get(key) or []):
            if (found := openai_schema_problem(inner, (*context, key, str(number)))) is not None:
                return found
    return None


def ollama_schema_problem(schema: Any) -> str | None:
    """What an ollama 0.6 says about a function's parameters it cannot read (None if it can)."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    for inner in (properties or {}).values():
        if isinstance(inner, dict) and isinstance(inner.get("type"), list):
            return ("json: cannot unmarshal array into Go struct field .tools.function.parameters.properties.type "
                    "of type string")
    return None


def count_tokens(body: dict[str, Any]) -> int:
    """The prompt tokens of a request as this server counts them: words and punctuation of every
    message (content, tool calls) and tool definition, plus 4 per message."""
    total = 0
    for message in body.get("messages") or []:
        total += 4 + len(_TOKEN.findall(json.dumps(message.get("content") or "", ensure_ascii=False)))
        if message.get("tool_calls"):
            total += len(_TOKEN.findall(json.dumps(message["tool_calls"])))
    if body.get("tools"):
        total += len(_TOKEN.findall(json.dumps(body["tools"])))
    return total


class _Listener(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops connections when many clients connect at once


class OpenAIServer:
    """The server; use as a context manager or call :meth:`close`.

    ``context_limit``: refuse requests whose prompt (as :func:`count_tokens` counts it) plus
    ``max_tokens`` exceeds it, in the ``context_error`` shape (:data:`CONTEXT_ERRORS`).
    ``responder``: answers requests when no scripted reply is queued (called with the request body).
    ``token_scale`` multiplies the counts (a tokenizer that splits finer than words)."""

    def __init__(
        self,
        personality: str = "openai",
        *,
        context_limit: int | None = None,
        context_error: str = "openai",
        responder: Callable[[dict[str, Any]], Reply | str] | None = None,
        token_scale: float = 1.0,
        rejects_stream_options: bool = False,
        refuses_streaming_tools: bool = False,
    ) -> None:
        if personality not in PERSONALITIES:
            raise ValueError(f"personality must be one of {PERSONALITIES}, got {personality!r}")
        if context_error not in CONTEXT_ERRORS:
            raise ValueError(f"context_error must be one of {CONTEXT_ERRORS}, got {context_error!r}")
        self.personality = personality
        self.context_limit = context_limit
        self.context_error = context_error
        self.responder = responder
        self.token_scale = token_scale
        self.rejects_stream_options = rejects_stream_options
        self.refuses_streaming_tools = refuses_streaming_tools
        self.refused_for_context = 0
        self.holds_timed_out = 0
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._httpd = _Listener(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, name="openai-test-server", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, *replies: Reply | str) -> None:
        """Queue replies (a string is a plain text answer)."""
        with self._lock:
            self._replies.extend(text(r) if isinstance(r, str) else r for r in replies)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._replies)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """JSON bodies of the chat-completions requests, in order."""
        with self._lock:
            return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            if self._replies:
                return self._replies.popleft()
        if self.responder is not None and isinstance(request.body, dict):
            answer = self.responder(request.body)
            return text(answer) if isinstance(answer, str) else answer
        return None

    def count(self, body: dict[str, Any]) -> int:
        """The prompt tokens of ``body`` as this server counts them."""
        return int(count_tokens(body) * self.token_scale)

    def context_refusal(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """The error this server answers ``body`` with when it does not fit ``context_limit``."""
        limit = self.context_limit
        if limit is None:
            return None
        prompt = self.count(body)
        completion = int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
        if prompt + completion <= limit:
            return None
        with self._lock:
            self.refused_for_context += 1
        if self.context_error == "openai":
            message = (f"This model's maximum context length is {limit} tokens. However, your messages resulted in "
                       f"{prompt} tokens. Please reduce the length of the messages.")
            return 400, {"error": {"message": message, "type": "invalid_request_error", "param": "messages",
                                   "code": "context_length_exceeded"}}
        if self.context_error == "vllm":
            message = (f"This model's maximum context length is {limit} tokens. However, you requested "
                       f"{prompt + completion} tokens ({prompt} in the messages, {completion} in the completion). "
                       "Please reduce the length of the messages or completion.")
            return 400, {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}
        if self.context_error == "llama.cpp":
            return 400, {"error": {"code": 400, "message": "the request exceeds the available context size, try "
                                   "increasing it", "type": "exceed_context_size_error",
                                   "n_prompt_tokens": prompt, "n_ctx": limit}}
        message = f"request ({prompt} tokens) exceeds the available context size ({limit} tokens), try increasing it"
        return 400, {"error": {"code": 400, "message": message, "type": "invalid_request_error"}}

    def completion(self, reply: Reply, model: str, request: dict[str, Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {**c, "id": c.get("id") or f"call_srv_{next(self._ids)}"} for c in reply.tool_calls
            ]
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls and self.personality != "ollama" else "stop")
        body: dict[str, Any] = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        }
        if reply.usage == AUTO and self.personality != "ollama":
            counted = self.context_limit is not None and request is not None  # realistic counts for context tests
            prompt = self.count(request) if counted and request is not None else 11
            body["usage"] = {"prompt_tokens": prompt, "completion_tokens": 7, "total_tokens": prompt + 7}
        elif reply.usage is not None and reply.usage != AUTO:
            body["usage"] = reply.usage
        return body

    def chunks(self, reply: Reply, model: str, request: dict[str, Any]) -> list[dict[str, Any]]:
        """``reply`` as the chat.completion.chunk objects of a streamed answer."""
        done = self.completion(reply, model, request)
        base = {"id": done["id"], "object": "chat.completion.chunk", "created": done["created"], "model": model}
        message = done["choices"][0]["message"]

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        out = [chunk({"role": "assistant", "content": ""})]
        text = message.get("content") or ""
        out.extend(chunk({"content": piece}) for piece in re.findall(r"\S+\s*|\s+", text))
        for index, called in enumerate(message.get("tool_calls") or []):
            arguments = called["function"]["arguments"]
            half = len(arguments) // 2
            out.append(chunk({"tool_calls": [{"index": index, "id": called["id"], "type": "function",
                                              "function": {"name": called["function"]["name"],
                                                           "arguments": arguments[:half]}}]}))
            out.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]}))
        out.append(chunk({}, done["choices"][0]["finish_reason"]))
        if (request.get("stream_options") or {}).get("include_usage") and "usage" in done:
            out.append({**base, "choices": [], "usage": done["usage"]})
        return out

    def refusal(self, body: Any) -> tuple[int, str] | None:
        """The status and error a server of this personality answers ``body`` with, if it refuses it."""
        if not isinstance(body, dict):
            return None
        if self.rejects_stream_options and "stream_options" in body:
            return 400, "Unrecognized request argument supplied: stream_options"
        if self.refuses_streaming_tools and body.get("stream") and body.get("tools"):
            return 400, "streaming is not supported when tools are given"
        for offered in body.get("tools") or []:
            function = offered.get("function") if isinstance(offered, dict) else None
            parameters = function.get("parameters") if isinstance(function, dict) else None
            if self.personality == "openai" and (problem := openai_schema_problem(parameters)) is not None:
                return 400, f"Invalid schema for function '{function['name']}': {problem}"
            if self.personality == "ollama" and (problem := ollama_schema_problem(parameters)) is not None:
                return 400, problem
        if self.personality == "openai":
            for number, message in enumerate(body.get("messages") or []):
                allowed = _MESSAGE_FIELDS.get(message.get("role")) if isinstance(message, dict) else None
                extra = sorted(set(message) - allowed) if allowed is not None else []
                if extra:
                    return 400, f"Additional properties are not allowed ({extra[0]!r} was unexpected) - 'messages.{number}'"
        if self.personality == "vllm-no-auto-tools" and body.get("tool_choice") == "auto":
            return 400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
        if self.personality != "llama.cpp":
            return None
        for number, message in enumerate(body.get("messages") or []):
            if isinstance(message, dict) and "content" in message and message["content"] is None:
                return 500, (
                    f"1 validation error for ChatCompletionRequest messages.{number}.content: "
                    "Input should be a valid string [type=string_type, input_value=None, input_type=NoneType]"
                )
        return None

    def streams_nothing(self, body: Any) -> bool:
        """Whether a server of this personality answers ``body`` with an event stream that ends empty."""
        return (
            self.personality == "llama.cpp"
            and isinstance(body, dict)
            and bool(body.get("stream"))
            and bool(body.get("tools"))
            and body.get("tool_choice") == "auto"
        )

    def ignores_tools(self, body: Any) -> bool:
        """Whether a server of this personality answers ``body`` as if no tools were offered."""
        return (
            self.personality == "llama.cpp"
            and isinstance(body, dict)
            and bool(body.get("tools"))
            and "tool_choice" not in body
        )

    def close(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler_for(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16  # status, headers and body leave in one write (no delayed-ACK stall)
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            is_json = not isinstance(payload, bytes)
            try:
                self.send_response(status)
                given = {key.lower(): value for key, value in (headers or {}).items()}
                self.send_header("Content-Type", given.pop("content-type", "application/json" if is_json else "text/plain"))
                self.send_header("Content-Length", str(len(data)))
                for key, value in given.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): nothing to tell it

        def _stream(
            self, chunks: list[dict[str, Any]], delay: float, *, done: bool = True, hold: threading.Event | None = None
        ) -> None:
            """Server-sent events, one chunk each, flushed as they go; the connection closes at the end
            (``done``: after ``data: [DONE]``). ``hold``: see :attr:`Reply.hold`."""
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
                for number, item in enumerate(chunks):
                    if number and delay:
                        server.stopping.wait(delay)
                    self.wfile.write(f"data: {json.dumps(item)}\n\n".encode())
                    self.wfile.flush()
                    if number == 1 and hold is not None and not hold.wait(30):
                        server.holds_timed_out += 1
                if done:
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        def _record(self, body: Any) -> RecordedRequest:
            headers = {k.lower(): v for k, v in self.headers.items()}
            return RecordedRequest(self.command, self.path, headers, body)

        def do_GET(self) -> None:
            server.record(self._record(None))
            if self.path.rstrip("/").endswith("/models"):
                models = [{"id": "test-model", "object": "model", "created": 0, "owned_by": "aixgo-tests"}]
                self._send(200, {"object": "list", "data": models})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = raw.decode(errors="replace")
            if not self.path.rstrip("/").endswith("/chat/completions"):
                server.record(self._record(body))
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                return
            refusal = server.refusal(body)
            if refusal is not None:
                server.record(self._record(body))
                self._send(refusal[0], {"error": {"message": refusal[1], "type": "invalid_request_error"}})
                return
            if server.streams_nothing(body):
                server.record(self._record(body))
                self._stream([], 0.0, done=False)
                return
            too_long = server.context_refusal(body) if isinstance(body, dict) else None
            if too_long is not None:
                server.record(self._record(body))
                self._send(*too_long)
                return
            reply = server._next(self._record(body))
            if reply is not None and server.ignores_tools(body):
                reply = Reply(content=reply.content or "(answered without the tools: they were not in the prompt)")
            if reply is None:
                message = "openai_server: no scripted reply left for this request"
                self._send(400, {"error": {"message": message, "type": "invalid_request_error"}})
                return
            if reply.delay:
                server.stopping.wait(reply.delay)
            if reply.body is not None:
                payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
                self._send(reply.status, payload, reply.headers)
            elif reply.status >= 400:
                err = {"message": reply.error_message, "type": "scripted_error", "code": str(reply.status)}
                self._send(reply.status, {"error": err}, reply.headers)
            else:
                model = body.get("model", "test-model") if isinstance(body, dict) else "test-model"
                request = body if isinstance(body, dict) else None
                if request is not None and request.get("stream"):
                    self._stream(server.chunks(reply, model, request), reply.chunk_delay, hold=reply.hold)
                else:
                    if reply.hold is not None and not reply.hold.wait(30):
                        server.holds_timed_out += 1
                    self._send(reply.status, server.completion(reply, model, request), reply.headers)

    return Handler
