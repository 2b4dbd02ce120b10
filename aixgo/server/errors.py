"""aixgo's errors as HTTP answers: a status code and an OpenAI-style error body, never a traceback."""

from __future__ import annotations

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
    SessionExistsError,
    SessionNotFoundError,
    StoreClosedError,
    StoreConnectionError,
    TurnStoppedError,
)
from aixgo.session.core.codec import dumps


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


def from_exception(exc: AixgoError) -> JSONResponse:
    """The answer for an aixgo error: its one-line message and the status of its kind (500 otherwise)."""
    for kind, status, name in STATUS:
        if isinstance(exc, kind):
            return error_response(status, str(exc), name, type(exc).__name__)
    return error_response(500, str(exc), "server_error", type(exc).__name__)
