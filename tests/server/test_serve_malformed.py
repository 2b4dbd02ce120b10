"""Malformed requests to a real ``aixgo serve``: each is a 4xx with an OpenAI-shaped error body, no
traceback, and nothing stored (the whole request is validated before a turn starts)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from aixgo.session import FileBackend, Manager
from tests.server.serving import Served, echo, no_traceback, write_config
from tests.support.openai_server import OpenAIServer

HELLO = [{"role": "user", "content": "hello"}]


@dataclass(frozen=True)
class Bad:
    status: int
    body: object = None  # a dict/list (sent as JSON), a str/bytes (sent as is), or None (no body)
    path: str = "/v1/chat/completions"
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    said: str = ""  # a fragment the error message must contain


def chat(**fields: object) -> dict[str, object]:
    return {"model": "bot", "messages": HELLO, **fields}


BAD: dict[str, Bad] = {
    "not JSON": Bad(400, "not json", said="not valid JSON"),
    "a JSON array": Bad(400, "[]", said="JSON object"),
    "NaN in the body": Bad(400, '{"model":"bot","messages":[{"role":"user","content":"hi"}],"temperature":NaN}'),
    "nested 30,000 deep": Bad(400, '{"model":"bot","x":' + "[" * 30000 + "]" * 30000 + "}", said="nested"),
    "larger than max_request_kb": Bad(413, chat(messages=[{"role": "user", "content": "x" * (2 << 20)}])),
    "no model": Bad(400, {"messages": HELLO}, said="model"),
    "model is a number": Bad(400, chat(model=5), said="model"),
    "unknown model": Bad(404, chat(model="nobody")),
    "no messages": Bad(400, {"model": "bot"}, said="messages"),
    "messages empty": Bad(400, chat(messages=[]), said="messages"),
    "messages a string": Bad(400, chat(messages="hello"), said="messages"),
    "message role a number": Bad(400, chat(messages=[{"role": 5, "content": "hi"}]), said="role"),
    "message of an unknown role": Bad(400, chat(messages=[{"role": "wizard", "content": "hi"}]), said="role"),
    "message content a number": Bad(400, chat(messages=[{"role": "user", "content": 5}]), said="content"),
    "message not an object": Bad(400, chat(messages=["hello"]), said="messages"),
    "no user message": Bad(400, chat(messages=[{"role": "assistant", "content": "hi"}]), said="user message"),
    "last user message empty": Bad(400, chat(messages=[{"role": "user", "content": " "}]), said="no text"),
    "stream not a boolean": Bad(400, chat(stream="yes"), said="stream"),
    "stream_options a string": Bad(400, chat(stream=True, stream_options="yes"), said="stream_options"),
    "include_usage not a boolean": Bad(400, chat(stream=True, stream_options={"include_usage": "yes"}),
                                       said="include_usage"),
    "user a number": Bad(400, chat(user=5), said="user"),
    "n of 2": Bad(400, chat(n=2), said="n"),
    "temperature a string": Bad(400, chat(temperature="hot"), said="temperature"),
    "temperature out of range": Bad(400, chat(temperature=5), said="temperature"),
    "max_tokens negative": Bad(400, chat(max_tokens=-1), said="max_tokens"),
    "tools a string": Bad(400, chat(tools="calc"), said="tools"),
    "session id escaping the store": Bad(422, chat(), headers={"X-Session-Id": "../etc"}),
    "session id too long": Bad(422, chat(), headers={"X-Session-Id": "x" * 200}),
    "checkpoint metadata NaN": Bad(400, '{"metadata": {"x": NaN}}', "/v1/sessions/s-1/checkpoints", said="NaN"),
    "checkpoint metadata a string": Bad(400, {"metadata": "x"}, "/v1/sessions/s-1/checkpoints", said="metadata"),
    "checkpoint metadata nested 101 deep": Bad(400, '{"metadata":' + '{"x":' * 100 + "{}" + "}" * 100 + "}",
                                               "/v1/sessions/s-1/checkpoints", said="nested"),
    "checkpoint of an unknown session": Bad(404, {}, "/v1/sessions/nope/checkpoints"),
    "restore without checkpoint_id": Bad(400, {}, "/v1/sessions/s-1/restore", said="checkpoint_id"),
    "restore checkpoint_id a number": Bad(400, {"checkpoint_id": 5}, "/v1/sessions/s-1/restore",
                                          said="checkpoint_id"),
    "restore an unknown checkpoint": Bad(404, {"checkpoint_id": "cp_nope"}, "/v1/sessions/s-1/restore"),
    "list with a bad limit": Bad(400, None, "/v1/sessions?limit=abc", "GET", said="limit"),
    "list with a negative offset": Bad(400, None, "/v1/sessions?offset=-1", "GET", said="offset"),
    "a malformed session id in the path": Bad(422, None, "/v1/sessions/bad%01id", "GET"),
    "an unknown path": Bad(404, None, "/v1/nothing", "GET"),
    "a method the path does not take": Bad(405, chat(), "/v1/chat/completions", "PUT"),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    tmp_path = tmp_path_factory.mktemp("malformed")
    with Manager(FileBackend(tmp_path / "store")) as mgr:
        mgr.create("bot", "s-1").append_message("user", "hello")
    with OpenAIServer(responder=echo) as upstream, Served(write_config(tmp_path, upstream)) as running:
        yield running, tmp_path / "store"


def stored(store: Path) -> object:
    with Manager(FileBackend(store)) as mgr:
        return [(info.id, [e.data for e in mgr.get(info.id).all_entries()], mgr.get(info.id).checkpoints())
                for info in mgr.list()]


@pytest.mark.parametrize("case", list(BAD))
def test_a_malformed_request_is_a_4xx_in_openai_shape_and_stores_nothing(
    served: tuple[Served, Path], case: str
) -> None:
    server, store = served
    bad = BAD[case]
    before = stored(store)
    content = bad.body if isinstance(bad.body, str | bytes) or bad.body is None else json.dumps(bad.body)
    headers = {"Content-Type": "application/json", **bad.headers}
    for session in (None, "s-1"):  # a new session, and an existing one
        if session is not None and "X-Session-Id" in bad.headers:
            continue
        sent = {**headers, **({"X-Session-Id": session} if session else {})}
        answer = httpx.request(bad.method, server.url + bad.path, content=content, headers=sent, timeout=30)
        assert answer.status_code == bad.status, answer.text[:500]
        error = answer.json()["error"]
        assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str)
        assert bad.said in error["message"], error["message"]
        assert no_traceback(answer.text)
        assert stored(store) == before
    assert no_traceback(server._output()), server._output()[-3000:]


def test_a_session_id_is_read_as_utf8(served: tuple[Served, Path]) -> None:
    server, store = served
    answer = httpx.post(f"{server.url}/v1/chat/completions", json=chat(),
                        headers={"X-Session-Id": "zürich-東京".encode()}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers.raw[[k.lower() for k, _ in answer.headers.raw].index(b"x-session-id")][1] == \
        "zürich-東京".encode()
    with Manager(FileBackend(store)) as mgr:
        assert "hello" in [e.data.get("content") for e in mgr.get("zürich-東京").get_entries()]
    assert httpx.get(f"{server.url}/v1/sessions/{'zürich-東京'}").status_code == 200
    exported = httpx.get(f"{server.url}/v1/sessions/{'zürich-東京'}/export")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == "attachment; filename*=UTF-8''z%C3%BCrich-%E6%9D%B1%E4%BA%AC.jsonl"


def test_a_session_id_that_is_not_utf8_is_refused(served: tuple[Served, Path]) -> None:
    server, store = served
    before = stored(store)
    host, port = server.url.removeprefix("http://").split(":")
    body = json.dumps(chat()).encode()
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"X-Session-Id: z\xfcrich\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:500]
    assert "UTF-8" in json.loads(text)["error"]["message"]
    assert stored(store) == before
