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
import json
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from aixgo.agents.events import ApprovalRequiredEvent, ToolCallEvent, ToolResultEvent, TurnEndEvent, TurnEvent
from aixgo.agents.overrides import settings_override
from aixgo.agents.result import TurnResult
from aixgo.errors import AixgoError, SessionExistsError, SessionNotFoundError
from aixgo.logs import get_logger
from aixgo.redaction import mask_text
from aixgo.runtime import Runtime
from aixgo.server.access import ANONYMOUS, ApiKey, KeyRing, Principal
from aixgo.server.approvals import (
    approval_json,
    parse_decision,
    paused_choice,
    pending_fields,
    tool_calls_json,
)
from aixgo.server.chat_request import parse_chat_request
from aixgo.server.console import console_routes
from aixgo.server.conversation import aseed_session
from aixgo.server.errors import BadRequest, JSONResponse, error_response, from_exception, public_message
from aixgo.server.guard import SESSION_HEADER, Guard
from aixgo.session import Session
from aixgo.session.backend import ListCursor
from aixgo.session.core.codec import format_ts, loads, parse_ts
from aixgo.session.core.records import MAX_JSON_DEPTH, RecordError, check_depth
from aixgo.session.ids import new_session_id, validate_id
from aixgo.session.transcript import transcript_json
from aixgo.session.transfer import aexport_lines, afork
from aixgo.session.types import SessionInfo
from aixgo.session.views import checkpoint_json, info_json

log = get_logger("aixgo.server")

DEFAULT_MAX_REQUEST = 1 << 20
DEFAULT_PAGE = 50
MAX_PAGE = 500
EVENTS_HEADER = "X-Aixgo-Events"
"""A request header: ``1`` adds the turn's tool calls and results to a streamed answer, as ``event: aixgo``
server-sent events between OpenAI's chunks (the console sends it; OpenAI clients never do)."""


def create_app(
    runtime: Runtime, *, api_keys: Iterable[str | ApiKey] = (), max_request_bytes: int = DEFAULT_MAX_REQUEST
) -> ASGIApp:
    """The HTTP API of ``runtime`` and its web console at ``/ui`` (mount it in your own app, or run it with
    ``aixgo serve``).

    ``api_keys``: when any is given, every request but ``/healthz``, ``/readyz`` and the console's own
    page needs ``Authorization: Bearer <one of them>`` (or the console's sign-in cookie). A plain string is
    an admin key; an :class:`~aixgo.server.access.ApiKey` may name its user and role (see
    :mod:`aixgo.server.access`). ``max_request_bytes``: larger bodies get 413."""
    keyring = KeyRing(api_keys)
    api = _Api(runtime, max_request_bytes)
    routes = [
        *console_routes(keyring),
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
        Route("/v1/sessions/{session_id}/fork", api.fork, methods=["POST"]),
        Route("/v1/sessions/{session_id}/stop", api.stop, methods=["POST"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/readyz", api.readyz, methods=["GET"]),
    ]
    # handlers for Exception itself run in Starlette's outermost middleware, which re-raises to the
    # server (a traceback in its log): expected errors get their own handlers
    handlers = {AixgoError: _aixgo_error, BadRequest: _bad_request, HTTPException: _http_error,
                Exception: _unexpected}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.runtime = runtime
    guarded: ASGIApp = Guard(app, keyring, max_request_bytes)
    if runtime.telemetry is not None:  # continue the caller's trace (traceparent) in a server span
        guarded = runtime.telemetry.asgi(guarded)
    return guarded


async def _aixgo_error(request: Request, exc: Exception) -> Response:
    return from_exception(exc) if isinstance(exc, AixgoError) else await _unexpected(request, exc)


async def _bad_request(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, BadRequest):  # pragma: no cover - registered for BadRequest only
        return await _unexpected(request, exc)
    return error_response(exc.status, str(exc), param=exc.param)


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
        principal = _principal(request)
        agent, message = chat.agent, chat.message
        user = principal.acting_user(chat.user)
        if user is not None:
            self._id(user, "user id")
        self.runtime.agent(agent)  # 404 for an unknown agent
        given = _session_header(request)
        if given and chat.session_id and given != chat.session_id:
            raise BadRequest(400, f"the {SESSION_HEADER} header and metadata.session_id name different sessions",
                             param="metadata")
        session_id = await self._conversation(principal, agent, self._id(given or chat.session_id or new_session_id()),
                                              user, chat.history)
        fields = request.scope["state"].get("access", {})
        fields["agent"] = agent
        headers = {SESSION_HEADER: _header_value(session_id)}
        with settings_override(chat.sampling):
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
        detailed = request.headers.get(EVENTS_HEADER, "") == "1"
        return StreamingResponse(
            _sse(first, events, agent, chat.include_usage, fields, detailed=detailed),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _conversation(
        self, principal: Principal, agent: str, session_id: str, user: str | None, history: tuple[dict[str, Any], ...]
    ) -> str:
        """The session the turn continues: one the principal may see, or a new one holding the client's
        earlier messages (a standard client's conversation)."""
        if self.runtime.session_mode(agent) == "disabled":
            return session_id  # the agent remembers nothing: each turn runs alone
        if not history and principal.admin:
            return session_id  # an admin may see every session: the turn resumes it or creates it (no lookup)
        manager = self.runtime.manager_for(agent)
        for _ in range(2):  # a concurrent request may create it meanwhile
            try:
                owner = (await manager.aget(session_id)).user_id
            except SessionNotFoundError:
                if not history:
                    return session_id  # the turn creates it
                try:
                    await aseed_session(manager, agent, session_id, user, history)
                except SessionExistsError:
                    continue
                return session_id
            if not principal.may_see(owner):
                raise _not_found(session_id)
            return session_id
        return session_id  # pragma: no cover - created and deleted again twice meanwhile: the turn creates it

    # -- sessions ----------------------------------------------------------------------------

    async def _session(self, request: Request) -> Session:
        """The session of the path, if the request's principal may see it (else 404, as for none)."""
        session_id = self._id(request.path_params["session_id"])
        session = await self.runtime.session_manager.aget(session_id)
        if not _principal(request).may_see(session.user_id):
            raise _not_found(session_id)
        return session

    async def list_sessions(self, request: Request) -> Response:
        query = request.query_params
        agent = query.get("agent") or None
        if agent is not None:
            self._id(agent, "agent name")
        user = _principal(request).list_filter(query.get("user") or None)
        limit = _int(query.get("limit"), "limit")
        limit = DEFAULT_PAGE if limit is None else min(limit, MAX_PAGE)
        offset = _int(query.get("offset"), "offset") or 0
        before = _cursor(query.get("before"))
        search = (query.get("q") or "").strip() or None
        infos = await self.runtime.session_manager.alist(agent=agent, user_id=user, limit=limit + 1, offset=offset,
                                                        before=before, search=search)
        page = infos[:limit]
        more = len(infos) > limit and bool(page)
        return JSONResponse({"object": "list", "data": [info_json(info) for info in page],
                             "next": _cursor_text(page[-1]) if more else None})

    async def get_session(self, request: Request) -> Response:
        session = await self._session(request)
        every = request.query_params.get("all") in ("1", "true")
        entries = await session.aget_entries()
        shown = await session.aall_entries() if every else entries
        checkpoints = await session.acheckpoints()
        info = await session.aget_info()
        return JSONResponse(transcript_json(info, entries, shown, checkpoints))

    async def delete_session(self, request: Request) -> Response:
        session = await self._session(request)
        if not await self.runtime.session_manager.adelete(session.id):
            raise _not_found(session.id)
        return JSONResponse({"id": session.id, "deleted": True})

    async def checkpoints(self, request: Request) -> Response:
        session = await self._session(request)
        return JSONResponse({"object": "list", "data": [checkpoint_json(cp) for cp in await session.acheckpoints()]})

    async def create_checkpoint(self, request: Request) -> Response:
        session = await self._session(request)
        metadata = (await self._json(request)).get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise BadRequest(400, "'metadata' must be a JSON object")
        checkpoint = await session.acheckpoint(metadata=metadata)
        return JSONResponse(checkpoint_json(checkpoint), status_code=201)

    async def restore(self, request: Request) -> Response:
        session = await self._session(request)
        checkpoint_id = (await self._json(request)).get("checkpoint_id")
        if not isinstance(checkpoint_id, str) or not checkpoint_id:
            raise BadRequest(400, "'checkpoint_id' is required")
        return JSONResponse(checkpoint_json(await session.arestore(self._id(checkpoint_id, "checkpoint id"))))

    async def fork(self, request: Request) -> Response:
        session = await self._session(request)
        body = await self._json(request)
        checkpoint_id, new_id = body.get("checkpoint_id"), body.get("session_id")
        for name, value in (("checkpoint_id", checkpoint_id), ("session_id", new_id)):
            if value is not None and (not isinstance(value, str) or not value):
                raise BadRequest(400, f"'{name}' must be a non-empty string", param=name)
        if checkpoint_id is not None:
            self._id(checkpoint_id, "checkpoint id")
        copy = await afork(self.runtime.session_manager, session, self._id(new_id or new_session_id()), checkpoint_id)
        return JSONResponse(info_json(await copy.aget_info()), status_code=201)

    async def stop(self, request: Request) -> Response:
        session = await self._session(request)
        return JSONResponse({"id": session.id, "stopped": self.runtime.stop_turns(session.id)})

    async def export(self, request: Request) -> Response:
        session = await self._session(request)
        lines = await aexport_lines(session)
        name = quote(f"{session.id}.jsonl")  # RFC 6266/5987: any id, as UTF-8
        return Response("".join(line + "\n" for line in lines), media_type="application/x-ndjson",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})

    # -- approvals ---------------------------------------------------------------------------

    async def approvals(self, request: Request) -> Response:
        session = await self._session(request)
        waiting = await session.apending_approval()
        found = waiting.approvals if waiting is not None else ()
        return JSONResponse({"object": "list", "data": [approval_json(session.id, session.agent, a) for a in found]})

    async def decide(self, request: Request) -> Response:
        # everything is checked before the decision is taken: a refused request stores nothing
        session_id = (await self._session(request)).id  # 404 for another user's session
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


def _principal(request: Request) -> Principal:
    principal = request.scope.get("state", {}).get("principal")
    return principal if isinstance(principal, Principal) else ANONYMOUS


def _not_found(session_id: str) -> SessionNotFoundError:
    return SessionNotFoundError(f"session {session_id!r} not found", session_id=session_id)


def _cursor(value: str | None) -> ListCursor | None:
    """A listing cursor as ``next`` gave it: ``<updated_at>,<id>``."""
    if not value:
        return None
    when, comma, session_id = value.partition(",")
    try:
        if not comma or not session_id:
            raise ValueError("no id")
        return parse_ts(when), session_id
    except ValueError:
        raise BadRequest(400, "'before' must be the 'next' of a previous page", param="before") from None


def _cursor_text(info: SessionInfo) -> str:
    return f"{format_ts(info.updated_at)},{info.id}"


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
    fields: dict[str, Any], *, detailed: bool = False,
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
            elif detailed and isinstance(event, ToolCallEvent | ToolResultEvent):
                yield f"event: aixgo\ndata: {json.dumps(asdict(event), ensure_ascii=False)}\n\n".encode()
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
        log.warning("http.error", status=200, error_type=type(exc).__name__, detail=mask_text(str(exc)))
        body = {"error": {"message": public_message(exc), "type": "server_error", "code": type(exc).__name__}}
        yield f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()
    finally:
        await events.aclose()
    yield b"data: [DONE]\n\n"


__all__ = ["SESSION_HEADER", "create_app"]
