"""A local OpenAI-compatible HTTP server for tests: loopback, free port, scripted replies.

It speaks the real wire protocol of ``POST /v1/chat/completions`` and ``GET /v1/models`` so the
real ``openai`` client can be driven against it. Each chat request takes the next scripted
:class:`Reply` (status code, headers such as ``Retry-After``, a delay, text, tool calls, missing
``usage``, ``content: null``, ``finish_reason: length`` or a raw body) and is recorded.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
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

* ``openai``: accepts every valid request.
* ``llama.cpp``: as llama-cpp-python's server with a function-calling chat format, a request without
  ``tool_choice`` is answered as if no tools were offered (they are left out of the prompt), and a
  message whose ``content`` is null is refused with a 500 ("Input should be a valid string").
* ``ollama``: answers tool calls with ``finish_reason: "stop"`` (ollama/ollama#5995 before the fix;
  some OpenAI models do the same), and sends no ``usage``.
* ``vllm``: started with ``--enable-auto-tool-choice``: behaves like ``openai``.
* ``vllm-no-auto-tools``: started without it: ``tool_choice: "auto"`` is refused with a 400 saying
  ``"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set``."""


class OpenAIServer:
    """The server; use as a context manager or call :meth:`close`."""

    def __init__(self, personality: str = "openai") -> None:
        if personality not in PERSONALITIES:
            raise ValueError(f"personality must be one of {PERSONALITIES}, got {personality!r}")
        self.personality = personality
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
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
            return self._replies.popleft() if self._replies else None

    def completion(self, reply: Reply, model: str) -> dict[str, Any]:
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
            body["usage"] = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        elif reply.usage is not None and reply.usage != AUTO:
            body["usage"] = reply.usage
        return body

    def refusal(self, body: Any) -> tuple[int, str] | None:
        """The status and error a server of this personality answers ``body`` with, if it refuses it."""
        if not isinstance(body, dict):
            return None
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
                self.send_header("Content-Type", "application/json" if is_json else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): nothing to tell it

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
                self._send(reply.status, server.completion(reply, model), reply.headers)

    return Handler
