"""The web console at ``/ui``: static assets shipped in the package (no build step, nothing from a CDN)
and its sign-in. The page talks only to the sessions API and ``/v1/chat/completions``, as any client.

* ``GET /ui`` the page; ``GET /ui/assets/NAME`` its script, style and icon.
* ``POST /ui/api/signin`` ``{"key": …}``: checks the key and keeps it in an HttpOnly, SameSite=Strict
  cookie; answers who signed in and the CSRF token every change must carry (``X-CSRF-Token``).
* ``POST /ui/api/signout`` forgets the cookie; ``GET /ui/api/me`` who is signed in (401 if nobody).
"""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from aixgo.server.access import ANONYMOUS, KeyRing, Principal
from aixgo.server.errors import BadRequest, JSONResponse, error_response
from aixgo.server.guard import COOKIE
from aixgo.session.core.codec import loads

ASSETS = {"app.js": "text/javascript", "app.css": "text/css", "icon.svg": "image/svg+xml"}
"""The files under ``/ui/assets/`` (nothing else is served from the package)."""
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _asset(name: str) -> bytes:
    return files("aixgo.server").joinpath("ui", name).read_bytes()


def console_routes(keyring: KeyRing) -> list[BaseRoute]:
    """The console's routes, for ``keyring``'s keys."""

    async def page(request: Request) -> Response:
        return Response(_asset("index.html"), media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return error_response(404, f"no console asset {name!r}", "not_found_error")
        return Response(_asset(name), media_type=ASSETS[name], headers=SECURITY_HEADERS)

    async def signin(request: Request) -> Response:
        try:
            body = loads(await request.body())
        except ValueError:
            body = None
        key = body.get("key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key.strip():
            raise BadRequest(400, "'key' is required", param="key")
        if not keyring:
            return JSONResponse(_me(ANONYMOUS, keys_required=False))
        found = keyring.find(key)
        if found is None:
            return error_response(401, "this key is not accepted", "invalid_request_error", "invalid_api_key")
        answer = JSONResponse(_me(keyring.principal(found, cookie=True), keys_required=True))
        answer.set_cookie(COOKIE, key.strip(), httponly=True, samesite="strict", path="/",
                          secure=request.url.scheme == "https")
        return answer

    async def signout(request: Request) -> Response:
        answer = JSONResponse({"signed_in": False})
        answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return answer

    async def me(request: Request) -> Response:
        principal = request.scope.get("state", {}).get("principal")
        assert isinstance(principal, Principal)  # the guard answered 401 otherwise
        return JSONResponse(_me(principal, keys_required=bool(keyring)))

    return [
        Route("/ui", page, methods=["GET"]),
        Route("/ui/", page, methods=["GET"]),
        Route("/ui/assets/{name}", asset, methods=["GET"]),
        Route("/ui/api/signin", signin, methods=["POST"]),
        Route("/ui/api/signout", signout, methods=["POST"]),
        Route("/ui/api/me", me, methods=["GET"]),
    ]


def _me(principal: Principal, *, keys_required: bool) -> dict[str, object]:
    return {"signed_in": True, "user": principal.user, "role": "admin" if principal.admin else "user",
            "csrf": principal.csrf_token, "keys_required": keys_required}


__all__ = ["ASSETS", "console_routes"]
