"""Per-user access in ``aixgo serve``: ``server.api_keys`` entries name a ``user`` and a ``role``. A user key
sees and touches only its user's sessions (another user's is a 404, as if it did not exist) and cannot act
for another user; an admin key sees all. Every sessions-API route is tried on the caller's own session,
on another user's session, and as an admin. The console's cookie sign-in needs the CSRF token on changes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aixgo.session import FileBackend, Manager
from tests.server.serving import Served, echo, no_traceback, write_config
from tests.support.openai_server import OpenAIServer

KEYS = {"alice": "alice-key-123456", "bob": "bob-key-1234567", "admin": "admin-key-12345"}
CONFIG = """server:
  api_keys:
    - {key: "${ALICE_KEY}", user: alice}
    - {key: "${BOB_KEY}", user: bob, role: user}
    - {key: "${ADMIN_KEY}", role: admin}
"""
_ids = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    tmp_path = tmp_path_factory.mktemp("access")
    env = {"ALICE_KEY": KEYS["alice"], "BOB_KEY": KEYS["bob"], "ADMIN_KEY": KEYS["admin"]}
    with OpenAIServer(responder=echo) as upstream, Served(write_config(tmp_path, upstream, extra=CONFIG),
                                                          env=env) as served:
        yield served, tmp_path / "store"


def new_session(store: Path, user: str) -> tuple[str, str]:
    """A stored session of ``user`` with one exchange and a checkpoint: its id and the checkpoint's."""
    session_id = f"{user}-{next(_ids)}"
    with Manager(FileBackend(store)) as manager:
        session = manager.create("bot", session_id, user_id=user)
        session.append_message("user", f"hello from {user}")
        checkpoint = session.checkpoint()
        session.append_message("assistant", "hi")
    return session_id, checkpoint.id


def as_(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[who]}"}


ROUTES: dict[str, tuple[str, str, object]] = {
    # name: (method, path with {id} and {cp}, body)
    "get": ("GET", "/v1/sessions/{id}", None),
    "checkpoints": ("GET", "/v1/sessions/{id}/checkpoints", None),
    "checkpoint": ("POST", "/v1/sessions/{id}/checkpoints", {"metadata": {"by": "test"}}),
    "restore": ("POST", "/v1/sessions/{id}/restore", {"checkpoint_id": "{cp}"}),
    "fork": ("POST", "/v1/sessions/{id}/fork", {"checkpoint_id": "{cp}"}),
    "export": ("GET", "/v1/sessions/{id}/export", None),
    "delete": ("DELETE", "/v1/sessions/{id}", None),
    "stop": ("POST", "/v1/sessions/{id}/stop", {}),
    "approvals": ("GET", "/v1/sessions/{id}/approvals", None),
    "decide": ("POST", "/v1/sessions/{id}/approvals/call_1", {"decision": "approve"}),
    "chat": ("POST", "/v1/chat/completions", {"model": "bot", "messages": [{"role": "user", "content": "more"}]}),
}
OK = {"get": 200, "checkpoints": 200, "checkpoint": 201, "restore": 200, "fork": 201, "export": 200,
      "delete": 200, "chat": 200, "stop": 200, "approvals": 200,
      "decide": 404}  # decide: the session is seen, but no call of it waits
CASES = [
    # (route, caller, owner of the session, expected status)
    *[(route, "alice", "alice", OK[route]) for route in ROUTES],  # own session
    *[(route, "alice", "bob", 404) for route in ROUTES],  # another user's session: as if it did not exist
    *[(route, "admin", "bob", OK[route]) for route in ROUTES],  # an admin: every session
]


@pytest.mark.parametrize(("route", "caller", "owner", "status"), CASES,
                         ids=[f"{r}-{c}-on-{o}s" for r, c, o, _ in CASES])
def test_every_route_on_own_others_and_as_admin(
    server: tuple[Served, Path], route: str, caller: str, owner: str, status: int
) -> None:
    served, store = server
    session_id, checkpoint = new_session(store, owner)
    method, path, body = ROUTES[route]
    if isinstance(body, dict) and body.get("checkpoint_id") == "{cp}":
        body = {**body, "checkpoint_id": checkpoint}
    headers = {**as_(caller), "X-Session-Id": session_id}
    answer = httpx.request(method, served.url + path.format(id=session_id), json=body, headers=headers)
    assert answer.status_code == status, answer.text
    with Manager(FileBackend(store)) as manager:
        sessions = {info.id: info for info in manager.list()}
        if status == 404 and caller not in (owner, "admin"):
            assert answer.json()["error"]["type"] == "not_found_error"
            assert f"session {session_id!r} not found" in answer.json()["error"]["message"]
            # nothing changed: still there, with its two messages and one checkpoint
            assert session_id in sessions and sessions[session_id].message_count == 2
            assert len(manager.get(session_id).checkpoints()) == 1
        if route == "fork" and status == 201:
            assert sessions[answer.json()["id"]].user_id == owner  # a fork belongs to the session's user
        if route == "chat" and status == 200:
            assert sessions[session_id].message_count == 4


def test_listing_shows_a_user_only_its_own_sessions(server: tuple[Served, Path]) -> None:
    served, store = server
    mine, _ = new_session(store, "alice")
    theirs, _ = new_session(store, "bob")
    listed = httpx.get(f"{served.url}/v1/sessions", params={"limit": 500}, headers=as_("alice")).json()["data"]
    assert mine in {s["id"] for s in listed} and {s["user_id"] for s in listed} == {"alice"}
    everyone = httpx.get(f"{served.url}/v1/sessions", params={"limit": 500}, headers=as_("admin")).json()["data"]
    assert {mine, theirs} <= {s["id"] for s in everyone}
    searched = httpx.get(f"{served.url}/v1/sessions", params={"q": "hello from bob"}, headers=as_("alice"))
    assert searched.status_code == 200 and searched.json()["data"] == []
    claimed = httpx.get(f"{served.url}/v1/sessions", params={"user": "bob"}, headers=as_("alice"))
    assert claimed.status_code == 403 and claimed.json()["error"]["param"] == "user"
    assert httpx.get(f"{served.url}/v1/sessions", params={"user": "bob"}, headers=as_("admin")).status_code == 200


def test_a_user_key_cannot_act_for_another_user(server: tuple[Served, Path]) -> None:
    served, store = server
    body = {"model": "bot", "user": "bob", "messages": [{"role": "user", "content": "I am bob"}]}
    refused = httpx.post(f"{served.url}/v1/chat/completions", json=body, headers=as_("alice"))
    assert refused.status_code == 403 and refused.json()["error"]["param"] == "user"
    made = httpx.post(f"{served.url}/v1/chat/completions", json={**body, "user": None}, headers=as_("alice"))
    assert made.status_code == 200
    with Manager(FileBackend(store)) as manager:
        assert manager.get(made.headers["x-session-id"]).user_id == "alice"  # the key's user, not a claimed one
    on_behalf = httpx.post(f"{served.url}/v1/chat/completions", json=body, headers=as_("admin"))
    assert on_behalf.status_code == 200
    with Manager(FileBackend(store)) as manager:
        assert manager.get(on_behalf.headers["x-session-id"]).user_id == "bob"
    assert httpx.get(f"{served.url}/v1/sessions").status_code == 401
    assert httpx.get(f"{served.url}/v1/sessions", headers={"Authorization": "Bearer wrong-key-123"}).status_code == 401


def test_console_cookie_sign_in_needs_the_csrf_token_for_changes(server: tuple[Served, Path]) -> None:
    served, store = server
    session_id, _ = new_session(store, "alice")
    with httpx.Client(base_url=served.url) as browser:
        assert browser.post("/ui/api/signin", json={"key": "nope-nope-nope"}).status_code == 401
        signed = browser.post("/ui/api/signin", json={"key": KEYS["alice"]})
        assert signed.status_code == 200 and signed.json()["user"] == "alice" and signed.json()["role"] == "user"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        csrf = signed.json()["csrf"]
        assert browser.get("/ui/api/me").json()["csrf"] == csrf
        assert browser.get(f"/v1/sessions/{session_id}").status_code == 200  # reads need no token
        path = f"/v1/sessions/{session_id}/checkpoints"
        missing = browser.post(path, json={})
        assert missing.status_code == 403 and missing.json()["error"]["code"] == "csrf"
        assert browser.post(path, json={}, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
        assert browser.post(path, json={}, headers={"X-CSRF-Token": csrf}).status_code == 201
        cross = browser.post(path, json={}, headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403 and cross.json()["error"]["code"] == "cross_site"
        other, _ = new_session(store, "bob")
        assert browser.get(f"/v1/sessions/{other}").status_code == 404
        assert browser.post("/ui/api/signout").status_code == 403  # signing out is a change too
        assert browser.post("/ui/api/signout", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert browser.get("/ui/api/me").status_code == 401
    assert KEYS["alice"] not in served._output() and no_traceback(served._output())


def test_a_key_of_role_user_must_name_its_user(tmp_path: Path) -> None:
    from aixgo.config import load_config
    from aixgo.errors import ConfigError

    path = tmp_path / "bad.yaml"
    path.write_text("agents: [{name: bot, model: m}]\nserver:\n  api_keys:\n    - {key: some-key-1234, role: user}\n")
    with pytest.raises(ConfigError, match=r"api_keys\[0\]"):
        load_config(path)
    path.write_text("agents: [{name: bot, model: m}]\nserver:\n  api_keys:\n    - {key: some-key-1234, user: a/b}\n")
    with pytest.raises(ConfigError, match="user"):
        load_config(path)
