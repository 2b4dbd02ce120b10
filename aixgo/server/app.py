"""``create_app(runtime)``: an ASGI app (Starlette) serving a runtime's agents over HTTP.

* ``POST /v1/chat/completions``: OpenAI-compatible. ``model`` names the agent; the session is the
  ``X-Session-Id`` request header (a new session when absent; its id is in the response's
  ``X-Session-Id``). With a session, only the request's last user message is taken: the stored
  history is the truth. ``stream: true`` answers with server-sent events in the OpenAI chunk format,
  passed on as the model sends them.
* ``GET /v1/models``: the agents.
* ``/v1/sessions…``: list, get (transcript), checkpoints (list / create), restore, export, delete; the
  tool calls that wait for approval, and deciding each (see :mod:`aixgo.server.approvals`: a turn
  that paused answers with them, as a turn calling tools, ``finish_reason: "tool_calls"``).
* ``GET /healthz`` (the process is up) and ``GET /readyz`` (the session store answers).

Errors are JSON in OpenAI's shape with the CLI's meaning: 404 unknown session / checkpoint / agent /
waiting call, 409 busy (or a session that waits for approval, a call already decided), 422 a malformed
id, 503 the store is down; never a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aixgo.agents.events import ApprovalRequiredEvent, TurnEndEvent, TurnEvent
from aixgo.agents.result import TurnResult
from aixgo.errors import AixgoError
from aixgo.logs import get_logger
from aixgo.runtime import Runtime
from aixgo.server.approvals import (
    approval_json,
    parse_decision,
    paused_choice,
    pending_fields,
    tool_calls_json,
)
from aixgo.server.chat_request import parse_chat_request
from aixgo.server.errors import BadRequest, JSONResponse, error_response, from_exception
from aixgo.session.core.codec import loads
from aixgo.session.core.records import MAX_JSON_DEPTH, RecordError, check_depth
from aixgo.session.ids import new_session_id, validate_id
from aixgo.session.transfer import aexport_lines
from aixgo.session.views import checkpoint_json, entry_json, info_json

log = get_logger("aixgo.server")

SESSION_HEADER = "X-Session-Id"
DEFAULT_MAX_REQUEST = 1 << 20
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def create_app(
    runtime: Runtime, *, api_keys: Iterable[str] = (), max_request_bytes: int = DEFAULT_MAX_REQUEST
) -> ASGIApp:
    """The HTTP API of ``runtime`` (mount it in your own app, or run it with ``aixgo serve``).

    ``api_keys``: when any is given, every request but ``/healthz`` and ``/readyz`` needs
    ``Authorization: Bearer <one of them>``. ``max_request_bytes``: larger bodies get 413."""
    api = _Api(runtime, max_request_bytes)
    routes = [
        Route("/v1/chat/completions", api.chat_completions, methods=["POST"]),
        Route("/v1/models", api.models, methods=["GET"]),
        Route("/v1/sessions", api.list_sessions, methods=["GET"]),
        Route("/v1/sessions/{session_id}", api.get_session, methods=["GET"]),
        Route("/v1/sessions/{session_id}", api.delete_session, methods=["DELETE"]),
        Route("/v1/sessions/{session_id}/checkpoints", api.checkpoints, methods=["GET"]),
        Route("/v1/sessions/{session_id}/checkpoints", api.create_checkpoint, methods=["POST"]),
        Route("/v1/sessions/{session_id}/restore", api.restore, methods=["POST"]),
        Route("/v1/sessions/{session_id}/export", api.export, methods=["GET"]),
        Route("/v1/sessions/{session_id}/approvals", api.approvals, methods=["GET"]),
        Route("/v1/sessions/{session_id}/approvals/{call_id}", api.decide, methods=["POST"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/readyz", api.readyz, methods=["GET"]),
    ]
    # handlers for Exception itself run in Starlette's outermost middleware, which re-raises to the
    # server (a traceback in its log): expected errors get their own handlers
    handlers = {AixgoError: _aixgo_error, BadRequest: _bad_request, HTTPException: _http_error,
                Exception: _unexpected}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.runtime = runtime
    keys = tuple(key for key in api_keys if key)
    guarded: ASGIApp = _Guard(app, keys, max_request_bytes)
    if runtime.telemetry is not None:  # continue the caller's trace (traceparent) in a server span
        guarded = runtime.telemetry.asgi(guarded)
    return guarded


async def _aixgo_error(request: Request, exc: Exception) -> Response:
    return from_exception(exc) if isinstance(exc, AixgoError) else await _unexpected(request, exc)


async def _bad_request(request: Request, exc: Exception) -> Response:
    status = exc.status if isinstance(exc, BadRequest) else 400
    return error_response(status, str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (an unknown path, a method the path does not take) in OpenAI's shape."""
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException only
        return await _unexpected(request, exc)
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    answer = error_response(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", kind)
    answer.headers.update(exc.headers or {})
    return answer


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("http.unexpected_error", path=request.url.path, error_type=type(exc).__name__)
    return error_response(500, f"internal error ({type(exc).__name__}); see the server's log", "server_error")


class _Guard:
    """Bearer keys, the request size limit, and one access-log line per request (pure ASGI, so
    streamed answers pass through untouched)."""

    def __init__(self, app: ASGIApp, keys: tuple[str, ...], max_request_bytes: int) -> None:
        self.app = app
        self.keys = keys
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        status = {"code": 0, "session": None}
        fields: dict[str, Any] = {}
        scope.setdefault("state", {})["access"] = fields

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                for key, value in message.get("headers", []):
                    if key.decode("latin-1").lower() == SESSION_HEADER.lower():
                        status["session"] = value.decode("utf-8", "replace")
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                log.info("http.request", method=scope.get("method"), path=path, status=status["code"],
                         session_id=status["session"], latency_ms=round((time.perf_counter() - started) * 1000, 1),
                         **fields)

        if self.keys and path not in OPEN_PATHS and not self._authorized(headers.get("authorization", "")):
            await error_response(401, "missing or invalid API key: send Authorization: Bearer <key>",
                                 "invalid_request_error", "invalid_api_key")(scope, receive, tracked_send)
            return
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_request_bytes:
            await error_response(413, f"the request body is larger than {self.max_request_bytes} bytes",
                                 "invalid_request_error", "request_too_large")(scope, receive, tracked_send)
            return
        await self.app(scope, receive, tracked_send)

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        given = token.strip().encode()
        return any(hmac.compare_digest(given, key.encode()) for key in self.keys)


class _Api:
    def __init__(self, runtime: Runtime, max_request_bytes: int) -> None:
        self.runtime = runtime
        self.max_request_bytes = max_request_bytes

    # -- helpers -----------------------------------------------------------------------------

    async def _json(self, request: Request) -> dict[str, Any]:
        body = b""
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > self.max_request_bytes:
                    raise BadRequest(413, f"the request body is larger than {self.max_request_bytes} bytes")
        except ClientDisconnect:  # nobody to answer; an error like any bad request, not a traceback in the log
            raise BadRequest(400, "the client closed the connection before sending the whole body") from None
        if not body:
            return {}
        try:
            data = loads(body)
        except ValueError as exc:  # not JSON, NaN, or nested beyond what Python can read
            raise BadRequest(400, f"the request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadRequest(400, "the request body must be a JSON object")
        try:  # the body's own object wraps the values it carries: one level more than a stored value
            check_depth(data, "the request body", MAX_JSON_DEPTH + 1)
        except RecordError as exc:
            raise BadRequest(400, f"{exc} (a value in it may be at most {MAX_JSON_DEPTH} levels deep)") from None
        return data

    @staticmethod
    def _id(value: str, what: str = "session id") -> str:
        validate_id(value, what)
        return value

    # -- OpenAI-compatible -------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "aixgo"} for name in self.runtime.agent_names]
        return JSONResponse({"object": "list", "data": data})

    async def chat_completions(self, request: Request) -> Response:
        # everything is checked before the turn starts: a refused request stores nothing
        chat = parse_chat_request(await self._json(request))
        agent, message, user = chat.agent, chat.message, chat.user
        self.runtime.agent(agent)  # 404 for an unknown agent
        given = _session_header(request)
        session_id = self._id(given) if given else new_session_id()
        fields = request.scope["state"].get("access", {})
        fields["agent"] = agent
        headers = {SESSION_HEADER: _header_value(session_id)}
        if not chat.stream:
            result = await self.runtime.acall_with_session(agent, message, session_id, user_id=user)
            fields["tokens"] = result.usage.total_tokens
            return JSONResponse(_completion(result, agent), headers=headers)
        events = self.runtime.astream_with_session(agent, message, session_id, user_id=user)
        try:
            first = await anext(events)  # the turn began: session found, lease held, message stored
        except BaseException:
            await events.aclose()
            raise
        return StreamingResponse(
            _sse(first, events, agent, chat.include_usage, fields),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # -- sessions ----------------------------------------------------------------------------

    async def list_sessions(self, request: Request) -> Response:
        query = request.query_params
        agent = query.get("agent") or None
        if agent is not None:
            self._id(agent, "agent name")
        limit, offset = _int(query.get("limit"), "limit"), _int(query.get("offset"), "offset") or 0
        infos = await self.runtime.session_manager.alist(agent=agent, user_id=query.get("user") or None,
                                                        limit=limit, offset=offset)
        return JSONResponse({"object": "list", "data": [info_json(info) for info in infos]})

    async def get_session(self, request: Request) -> Response:
        session = await self.runtime.session_manager.aget(self._id(request.path_params["session_id"]))
        entries = await session.aget_entries()
        checkpoints = await session.acheckpoints()
        info = await session.aget_info()
        return JSONResponse({"session": info_json(info), "entries": [entry_json(e) for e in entries],
                             "checkpoints": [checkpoint_json(cp) for cp in checkpoints]})

    async def delete_session(self, request: Request) -> Response:
        session_id = self._id(request.path_params["session_id"])
        if not await self.runtime.session_manager.adelete(session_id):
            return error_response(404, f"session {session_id!r} not found", "not_found_error", "SessionNotFoundError")
        return JSONResponse({"id": session_id, "deleted": True})

    async def checkpoints(self, request: Request) -> Response:
        session = await self.runtime.session_manager.aget(self._id(request.path_params["session_id"]))
        return JSONResponse({"object": "list", "data": [checkpoint_json(cp) for cp in await session.acheckpoints()]})

    async def create_checkpoint(self, request: Request) -> Response:
        session = await self.runtime.session_manager.aget(self._id(request.path_params["session_id"]))
        metadata = (await self._json(request)).get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise BadRequest(400, "'metadata' must be a JSON object")
        checkpoint = await session.acheckpoint(metadata=metadata)
        return JSONResponse(checkpoint_json(checkpoint), status_code=201)

    async def restore(self, request: Request) -> Response:
        session = await self.runtime.session_manager.aget(self._id(request.path_params["session_id"]))
        checkpoint_id = (await self._json(request)).get("checkpoint_id")
        if not isinstance(checkpoint_id, str) or not checkpoint_id:
            raise BadRequest(400, "'checkpoint_id' is required")
        return JSONResponse(checkpoint_json(await session.arestore(self._id(checkpoint_id, "checkpoint id"))))

    async def export(self, request: Request) -> Response:
        session = await self.runtime.session_manager.aget(self._id(request.path_params["session_id"]))
        lines = await aexport_lines(session)
        name = quote(f"{session.id}.jsonl")  # RFC 6266/5987: any id, as UTF-8
        return Response("".join(line + "\n" for line in lines), media_type="application/x-ndjson",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})

    # -- approvals ---------------------------------------------------------------------------

    async def approvals(self, request: Request) -> Response:
        session = await self.runtime.session_manager.aget(self._id(request.path_params["session_id"]))
        waiting = await session.apending_approval()
        found = waiting.approvals if waiting is not None else ()
        return JSONResponse({"object": "list", "data": [approval_json(session.id, session.agent, a) for a in found]})

    async def decide(self, request: Request) -> Response:
        # everything is checked before the decision is taken: a refused request stores nothing
        session_id = self._id(request.path_params["session_id"])
        call_id = request.path_params["call_id"]
        asked = parse_decision(await self._json(request))
        headers = {SESSION_HEADER: _header_value(session_id)}
        args = (session_id, call_id, asked.decision)
        if not asked.stream:
            result = await self.runtime.adecide(*args, reason=asked.reason, by=asked.by)
            request.scope["state"].get("access", {})["tokens"] = result.usage.total_tokens
            return JSONResponse(_completion(result, result.agent), headers=headers)
        events = self.runtime.astream_decide(*args, reason=asked.reason, by=asked.by)
        try:
            first = await anext(events)  # decided (or refused: 404, 409), and the turn went on
        except BaseException:
            await events.aclose()
            raise
        return StreamingResponse(
            _sse(first, events, "", False, request.scope["state"].get("access", {})),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # -- health ------------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if not any(self.runtime.session_mode(name) == "enabled" for name in self.runtime.agent_names):
            return JSONResponse({"status": "ready", "store": "none (no agent stores sessions)"})
        try:
            await asyncio.wait_for(self.runtime.session_manager.alist(limit=1), timeout=5)
        except (AixgoError, TimeoutError) as exc:
            return error_response(503, f"the session store is not reachable: {exc}", "store_unavailable")
        return JSONResponse({"status": "ready"})


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise BadRequest(400, f"'{name}' must be a whole number >= 0")
    return int(value)


def _session_header(request: Request) -> str | None:
    """The ``X-Session-Id`` request header as UTF-8 text (HTTP carries bytes; Starlette reads them as Latin-1,
    which would store ``zürich`` as ``zÃ¼rich``)."""
    wanted = SESSION_HEADER.lower().encode()
    for name, value in request.scope["headers"]:
        if name.lower() == wanted:
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest(400, f"the {SESSION_HEADER} header must be UTF-8 text") from None
    return None


def _header_value(text: str) -> str:
    """``text`` for a response header, sent as its UTF-8 bytes (Starlette encodes header values as Latin-1)."""
    return text.encode("utf-8").decode("latin-1")


def _completion(result: TurnResult, agent: str) -> dict[str, Any]:
    message, finish = paused_choice(result)
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": agent,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": result.usage.to_dict(),
        **pending_fields(result),
    }


async def _sse(
    first: TurnEvent, events: AsyncGenerator[TurnEvent, None], agent: str, include_usage: bool,
    fields: dict[str, Any],
) -> AsyncIterator[bytes]:
    """The turn's events as OpenAI ``chat.completion.chunk`` server-sent events (``agent`` empty: the
    turn's own, known at its end). A turn that pauses for approval sends its waiting calls as
    ``tool_calls`` deltas and ends with ``finish_reason: "tool_calls"`` and ``pending_approvals``."""
    base = {"id": f"chatcmpl-{secrets.token_hex(12)}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": agent}

    def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> bytes:
        payload = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more}
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    try:
        event: TurnEvent | None = first
        while event is not None:
            if event.type == "text_delta":
                yield chunk({"content": event.text})
            elif isinstance(event, ApprovalRequiredEvent):
                calls = [{"index": n, **call} for n, call in enumerate(tool_calls_json(event.approvals))]
                yield chunk({"tool_calls": calls})
            elif isinstance(event, TurnEndEvent):
                result = event.result
                base["model"] = base["model"] or result.agent
                fields["tokens"] = result.usage.total_tokens
                yield chunk({}, paused_choice(result)[1], **pending_fields(result))
                if include_usage:
                    usage = {**base, "choices": [], "usage": result.usage.to_dict()}
                    yield f"data: {json.dumps(usage)}\n\n".encode()
            event = await anext(events, None)
    except AixgoError as exc:
        body = {"error": {"message": str(exc), "type": "server_error", "code": type(exc).__name__}}
        yield f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()
    finally:
        await events.aclose()
    yield b"data: [DONE]\n\n"


__all__ = ["SESSION_HEADER", "create_app"]
