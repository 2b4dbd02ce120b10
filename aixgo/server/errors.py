"""aixgo's errors as HTTP answers: a status code and an OpenAI-style error body, never a traceback.

A body never names where the server keeps its sessions (the store's folder, a file, an address) or
which model server it talks to: a client has no use for them, and they tell an outsider about the
deployment. The server's log keeps the whole message for its operator.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import JSONResponse as _StarletteJSONResponse

from aixgo.errors import (
    AgentNotFoundError,
    AixgoError,
    ApprovalDecidedError,
    ApprovalNotFoundError,
    ApprovalPendingError,
    CheckpointNotFoundError,
    InvalidEntryError,
    InvalidSessionIdError,
    LLMError,
    LLMRequestError,
    SessionBusyError,
    SessionCorruptedError,
    SessionError,
    SessionExistsError,
    SessionNotFoundError,
    StoreClosedError,
    StoreConnectionError,
    StoreError,
    TurnStoppedError,
)
from aixgo.logs import get_logger
from aixgo.redaction import mask_text
from aixgo.session.core.codec import dumps

log = get_logger("aixgo.server")

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)
_MODEL_SERVER_URL = re.compile(r"\bmodel server [a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)
_PATH = re.compile(r"(?<![\w.~])(?:~|/)[^\s'\"<>:]*/[^\s'\"<>:]*")


class BadRequest(Exception):
    """A request the API refuses before doing anything: its status (400, 413, …) and the reason."""

    def __init__(self, status: int, message: str, *, param: str | None = None) -> None:
        self.status = status
        self.param = param
        super().__init__(message)


class JSONResponse(_StarletteJSONResponse):
    """Starlette's JSON answer, encoded by the session core's codec: the same compact JSON, and a value
    stored before :data:`~aixgo.session.core.records.MAX_JSON_DEPTH` bounded nesting is still served."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


STATUS: tuple[tuple[type[AixgoError], int, str], ...] = (
    (InvalidSessionIdError, 422, "invalid_request_error"),
    (ApprovalPendingError, 409, "approval_pending"),
    (ApprovalDecidedError, 409, "conflict"),
    (ApprovalNotFoundError, 404, "not_found_error"),
    (InvalidEntryError, 422, "invalid_request_error"),
    (SessionNotFoundError, 404, "not_found_error"),
    (CheckpointNotFoundError, 404, "not_found_error"),
    (AgentNotFoundError, 404, "model_not_found"),
    (SessionBusyError, 409, "session_busy"),
    (SessionExistsError, 409, "conflict"),
    (TurnStoppedError, 409, "turn_stopped"),
    (StoreConnectionError, 503, "store_unavailable"),
    (StoreClosedError, 503, "store_unavailable"),
    (LLMRequestError, 502, "upstream_error"),
    (LLMError, 502, "upstream_error"),
)
"""Which error is which status: the same cases the CLI reports, mapped to HTTP."""


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """The OpenAI error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    status: int, message: str, kind: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> JSONResponse:
    """A JSON error answer."""
    return JSONResponse(error_body(message, kind, code, param), status_code=status)


def public_message(exc: AixgoError) -> str:
    """``exc``'s message without the store's folder, files and address or the model server's URL."""
    text = str(exc)
    if isinstance(exc, SessionCorruptedError) and exc.path is not None:
        where = f"{exc.path}:{exc.line}: " if exc.line is not None else f"{exc.path}: "
        text = text.replace(where, "", 1)
        if exc.session_id:
            text = f"session {exc.session_id!r} cannot be read: {text}"
    if isinstance(exc, StoreConnectionError) and exc.address:
        text = text.replace(exc.address, "the session store")
    if isinstance(exc, LLMError):
        text = _URL.sub("the model server", _MODEL_SERVER_URL.sub("the model server", text))
    elif isinstance(exc, SessionError | StoreError):
        text = _PATH.sub("the session store", _URL.sub("the session store", text))
    return text


def from_exception(exc: AixgoError) -> JSONResponse:
    """The answer for an aixgo error: its one-line message (see :func:`public_message`) and the status
    of its kind (500 otherwise). A server-side failure (5xx), or a message that had to be shortened, is
    logged whole."""
    status, name = 500, "server_error"
    for kind, code, kind_name in STATUS:
        if isinstance(exc, kind):
            status, name = code, kind_name
            break
    message = public_message(exc)
    if status >= 500 or message != str(exc):
        log.warning("http.error", status=status, error_type=type(exc).__name__, detail=mask_text(str(exc)))
    return error_response(status, message, name, type(exc).__name__)
