"""The ASGI layer in front of every route: who the request is (:mod:`aixgo.server.access`), the request
size limit, cross-site and CSRF checks on changes, and one access-log line per request. Pure ASGI, so
streamed answers pass through untouched.

Credentials: ``Authorization: Bearer KEY``, or the console's cookie (:data:`COOKIE`, HttpOnly and
SameSite=Strict, set by ``POST /ui/api/signin``). A change (any method but GET/HEAD/OPTIONS) is refused
(403) when the browser says it comes from another site (``Sec-Fetch-Site``), and, when it is signed in
by the cookie, unless it carries the key's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aixgo.logs import get_logger
from aixgo.server.access import ANONYMOUS, KeyRing, Principal
from aixgo.server.errors import error_response

log = get_logger("aixgo.server")

SESSION_HEADER = "X-Session-Id"
COOKIE = "aixgo_key"
CSRF_HEADER = "x-csrf-token"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/ui", "/ui/", "/ui/api/signin", "/ui/api/signout"})
"""Paths answered without a key (the console's page and assets too: everything under ``/ui/assets/``)."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_open(path: str) -> bool:
    """Whether ``path`` needs no key."""
    return path in OPEN_PATHS or path.startswith("/ui/assets/")


def cookie_value(header: str, name: str = COOKIE) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


class Guard:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, keyring: KeyRing, max_request_bytes: int) -> None:
        self.app = app
        self.keyring = keyring
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
        state = scope.setdefault("state", {})
        state["access"] = fields

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

        async def refuse(code: int, message: str, kind: str = "invalid_request_error", err: str | None = None) -> None:
            await error_response(code, message, kind, err)(scope, receive, tracked_send)

        principal = self._principal(headers)
        state["principal"] = principal
        if principal is None and not is_open(path):
            await refuse(401, "missing or invalid API key: send Authorization: Bearer <key>", err="invalid_api_key")
            return
        if principal is not None and principal.user is not None:
            fields["user"] = principal.user
        method = scope.get("method", "GET")
        if method not in SAFE_METHODS:
            if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
                await refuse(403, "a change requested by another site is refused", "permission_error", "cross_site")
                return
            if principal is not None and principal.cookie and not _csrf_ok(principal, headers.get(CSRF_HEADER, "")):
                await refuse(403, f"missing or wrong CSRF token: send {CSRF_HEADER} (from GET /ui/api/me)",
                             "permission_error", "csrf")
                return
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_request_bytes:
            await refuse(413, f"the request body is larger than {self.max_request_bytes} bytes",
                         "invalid_request_error", "request_too_large")
            return
        await self.app(scope, receive, tracked_send)

    def _principal(self, headers: dict[str, str]) -> Principal | None:
        """The request's principal: its bearer key's, else its cookie's; without keys, an admin's."""
        if not self.keyring:
            return ANONYMOUS
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            key = self.keyring.find(token)
            return None if key is None else self.keyring.principal(key)
        value = cookie_value(headers.get("cookie", ""))
        key = self.keyring.find(value) if value else None
        return None if key is None else self.keyring.principal(key, cookie=True)


def _csrf_ok(principal: Principal, given: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), principal.csrf_token.encode())


__all__ = ["COOKIE", "CSRF_HEADER", "SESSION_HEADER", "Guard", "cookie_value", "is_open"]
