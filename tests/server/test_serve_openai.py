"""``aixgo serve`` through the real ``openai`` client (plain and streamed) and ``httpx``, over real
HTTP; the upstream model is the local OpenAI-compatible test server."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from aixgo.session import EntryType, FileBackend, Manager
from tests.server.serving import Served, echo, no_traceback, write_config
from tests.support.openai_server import OpenAIServer, Reply


@pytest.fixture
def upstream() -> Iterator[OpenAIServer]:
    with OpenAIServer(responder=echo) as server:
        yield server


@pytest.fixture
def served(upstream: OpenAIServer, tmp_path: Path) -> Iterator[Served]:
    with Served(write_config(tmp_path, upstream)) as running:
        yield running


def client(served: Served, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key=key, max_retries=0)


def test_chat_completions_with_memory(served: Served, upstream: OpenAIServer, tmp_path: Path) -> None:
    api = client(served)
    first = api.chat.completions.with_raw_response.create(
        model="bot", messages=[{"role": "user", "content": "My name is Ada."}])
    session_id = first.headers["x-session-id"]
    assert len(session_id) == 36
    assert first.parse().choices[0].message.content == "answer to My name is Ada. (after 0 earlier)"
    assert first.parse().usage is not None and first.parse().usage.total_tokens == 18
    # with a session, only the new user message is taken from the request: the stored history is the truth
    second = api.chat.completions.create(
        model="bot", extra_headers={"X-Session-Id": session_id},
        messages=[{"role": "user", "content": "ignored, not the last"}, {"role": "assistant", "content": "x"},
                  {"role": "user", "content": "What is my name?"}])
    assert second.choices[0].message.content == "answer to What is my name? (after 1 earlier)"
    sent = [m["content"] for m in upstream.chat_requests[-1]["messages"] if m["role"] == "user"]
    assert sent == ["My name is Ada.", "What is my name?"]
    assert [m.id for m in api.models.list().data] == ["bot", "other"]


def test_streamed_answers_arrive_as_the_model_sends_them(served: Served, upstream: OpenAIServer) -> None:
    released = threading.Event()
    upstream.enqueue(Reply(content="one two three four five", hold=released))
    api = client(served)
    stream = api.chat.completions.create(model="bot", stream=True, stream_options={"include_usage": True},
                                         messages=[{"role": "user", "content": "count"}],
                                         extra_headers={"X-Session-Id": "streamed-1"})
    text, usage, first_word_while_held = "", None, None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            if not text:
                first_word_while_held = not released.is_set()
                released.set()  # only now does the upstream send the rest
            text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == "one two three four five"
    assert usage is not None and usage.total_tokens == 18
    # Passed on, not buffered: the first word reached the client while the upstream still held back the
    # rest, waiting for it (a buffering server would have let the upstream's wait run out).
    assert first_word_while_held is True and upstream.holds_timed_out == 0


def test_sessions_api(served: Served) -> None:
    api = client(served)
    for text in ("one", "two"):
        api.chat.completions.create(model="bot", messages=[{"role": "user", "content": text}],
                                    extra_headers={"X-Session-Id": "s-api"})
    http = httpx.Client(base_url=served.url)
    listed = http.get("/v1/sessions", params={"agent": "bot"}).json()["data"]
    assert [item["id"] for item in listed] == ["s-api"] and listed[0]["message_count"] == 4
    transcript = http.get("/v1/sessions/s-api").json()
    assert next(e["data"].get("content") for e in transcript["entries"] if e["type"] == "message") == "one"
    made = http.post("/v1/sessions/s-api/checkpoints", json={"metadata": {"note": "after two"}})
    assert made.status_code == 201
    checkpoint = made.json()["id"]
    api.chat.completions.create(model="bot", messages=[{"role": "user", "content": "three"}],
                                extra_headers={"X-Session-Id": "s-api"})
    assert [c["id"] for c in http.get("/v1/sessions/s-api/checkpoints").json()["data"]] == [checkpoint]
    assert http.post("/v1/sessions/s-api/restore", json={"checkpoint_id": checkpoint}).status_code == 200
    assert http.get("/v1/sessions/s-api").json()["session"]["message_count"] == 4
    exported = http.get("/v1/sessions/s-api/export")
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    assert json.loads(exported.text.splitlines()[-1])["k"] == "end"
    assert http.delete("/v1/sessions/s-api").json() == {"id": "s-api", "deleted": True}
    assert http.get("/v1/sessions/s-api").status_code == 404


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("GET", "/v1/sessions/nope", None, 404),
    ("DELETE", "/v1/sessions/nope", None, 404),
    ("GET", "/v1/sessions/bad%01id", None, 422),
    ("POST", "/v1/sessions/nope/restore", {"checkpoint_id": "cp"}, 404),
    ("POST", "/v1/chat/completions", {"model": "nobody", "messages": [{"role": "user", "content": "hi"}]}, 404),
    ("POST", "/v1/chat/completions", {"model": "bot", "messages": []}, 400),
    ("POST", "/v1/chat/completions", "not json", 400),
    ("GET", "/v1/sessions?limit=abc", None, 400),
])
def test_errors_are_openai_shaped_without_tracebacks(
    served: Served, method: str, path: str, body: object, status: int
) -> None:
    content = body if isinstance(body, str) else json.dumps(body) if body is not None else None
    answer = httpx.request(method, served.url + path, content=content)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["message"] and error["type"]
    assert no_traceback(answer.text)
    assert no_traceback(served._output())  # nor in the server's log


def test_a_client_that_leaves_mid_body_leaves_no_traceback_in_the_log(served: Served) -> None:
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"model\": ")
        time.sleep(0.2)  # the cause, not a wait: the server reads the start of the body before the client leaves
    deadline = time.monotonic() + 60
    while "path=/v1/chat/completions" not in served._output():  # the server has handled the departure
        assert time.monotonic() < deadline, served._output()[-3000:]
        time.sleep(0.02)
    assert "status=400" in served._output()
    assert httpx.get(f"{served.url}/healthz").status_code == 200
    assert no_traceback(served._output()), served._output()[-3000:]


def _get_healthz(conn: socket.socket) -> bytes:
    """One request on ``conn`` and its whole answer (b"" when the server had closed the connection)."""
    try:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b'"ok"}' not in answer and (chunk := conn.recv(4096)):
            answer += chunk
        return answer
    except ConnectionError:
        return b""


def test_an_idle_connection_outlives_a_proxys_idle_timeout_not_uvicorns_5_seconds(served: Served) -> None:
    """A proxy or a pooled client that reuses a connection the server closed at uvicorn's default 5
    idle seconds gets a reset instead of an answer (502s and ReadErrors under load)."""
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        assert _get_healthz(conn).startswith(b"HTTP/1.1 200")
        time.sleep(6.5)
        assert _get_healthz(conn).startswith(b"HTTP/1.1 200")


def test_bad_session_header_and_large_bodies(served: Served) -> None:
    bad = httpx.post(f"{served.url}/v1/chat/completions", headers={"X-Session-Id": "../etc"},
                     json={"model": "bot", "messages": [{"role": "user", "content": "hi"}]})
    assert bad.status_code == 422
    huge = httpx.post(f"{served.url}/v1/chat/completions",
                      json={"model": "bot", "messages": [{"role": "user", "content": "x" * (2 << 20)}]})
    assert huge.status_code == 413
    assert no_traceback(served._output())


def test_sixteen_concurrent_requests_on_one_session_leave_sixteen_whole_pairs(
    served: Served, upstream: OpenAIServer, tmp_path: Path
) -> None:
    upstream.responder = lambda body: (time.sleep(0.02), echo(body))[1]
    api = client(served)

    def ask(number: int) -> str:
        answer = api.chat.completions.create(model="bot", messages=[{"role": "user", "content": f"m{number}"}],
                                             extra_headers={"X-Session-Id": "busy"})
        return answer.choices[0].message.content or ""

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(16)))
    assert all(a.startswith(f"answer to m{n} ") for n, a in enumerate(answers))
    with Manager(FileBackend(tmp_path / "store")) as manager:
        chat = [e.data for e in manager.get("busy").get_entries() if e.type is EntryType.MESSAGE]
    assert len(chat) == 32
    for user, assistant in zip(chat[::2], chat[1::2], strict=True):  # never interleaved
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert assistant["content"].startswith(f"answer to {user['content']} ")
    earlier = sorted(int(m["content"].split("after ")[1].split()[0]) for m in chat[1::2])
    assert earlier == list(range(16))  # each turn saw every turn before it


def test_api_keys(upstream: OpenAIServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, upstream, extra="server:\n  api_keys: [\"${SECOND_KEY}\"]\n")
    with Served(config, env={"AIXGO_API_KEY": "key-one-123456", "SECOND_KEY": "key-two-123456"}) as served:
        refused = httpx.post(f"{served.url}/v1/chat/completions", json={"model": "bot", "messages": []})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        wrong = httpx.get(f"{served.url}/v1/models", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "nope" not in wrong.text
        for key in ("key-one-123456", "key-two-123456"):
            assert [m.id for m in client(served, key).models.list().data] == ["bot", "other"]
        assert httpx.get(f"{served.url}/healthz").status_code == 200  # probes need no key
        _, log = served.stop()
    assert "key-one-123456" not in log and "key-two-123456" not in log


def test_a_public_address_needs_keys(upstream: OpenAIServer, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "aixgo", "serve", str(write_config(tmp_path, upstream)),
                           "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and "refusing to listen on 0.0.0.0 without API keys" in done.stderr


def test_readyz_says_when_the_store_is_down(upstream: OpenAIServer, tmp_path: Path) -> None:
    from tests.session.redis_server import free_port

    dead = f"session: {{store: redis, redis: {{addr: '127.0.0.1:{free_port()}', connect_timeout: 0.2, retries: 0}}}}"
    with Served(write_config(tmp_path, upstream, session=dead)) as served:
        assert httpx.get(f"{served.url}/healthz").status_code == 200
        ready = httpx.get(f"{served.url}/readyz")
        assert ready.status_code == 503 and "not reachable" in ready.json()["error"]["message"]
        chat = httpx.post(f"{served.url}/v1/chat/completions",
                          json={"model": "bot", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 503 and no_traceback(chat.text)


def test_graceful_shutdown_finishes_the_running_turn(upstream: OpenAIServer, tmp_path: Path) -> None:
    answer_now = threading.Event()  # the model answers only once the server was told to stop
    upstream.enqueue(Reply(content="slow answer", hold=answer_now))
    served = Served(write_config(tmp_path, upstream))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(httpx.post, f"{served.url}/v1/chat/completions", timeout=60,
                              headers={"X-Session-Id": "slow"},
                              json={"model": "bot", "messages": [{"role": "user", "content": "hi"}]})
        deadline = time.monotonic() + 60
        while not upstream.chat_requests:  # the turn is running: its request reached the model
            assert time.monotonic() < deadline and not pending.done(), "the turn never asked the model"
            time.sleep(0.01)
        served.process.send_signal(signal.SIGTERM)
        answer_now.set()
        code, _ = served.stop()
        answer = pending.result()
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "slow answer"
    assert code in (0, -15)  # uvicorn re-raises SIGTERM once it has shut down
    with Manager(FileBackend(tmp_path / "store")) as manager:
        session = manager.get("slow")
        assert [e.data.get("content") for e in session.get_entries() if e.type is EntryType.MESSAGE] == [
            "hi", "slow answer"]
        with session.lease(ttl=5, wait=0):  # released on the way out
            pass


def test_a_server_without_sessions_is_ready_and_stateless(upstream: OpenAIServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, upstream, session="session: {enabled: false}")
    with Served(config) as served:
        assert httpx.get(f"{served.url}/readyz").status_code == 200
        api = client(served)
        for text in ("one", "two"):
            answer = api.chat.completions.create(model="bot", messages=[{"role": "user", "content": text}],
                                                 extra_headers={"X-Session-Id": "same"})
            assert answer.choices[0].message.content == f"answer to {text} (after 0 earlier)"  # no memory
        listed = httpx.get(f"{served.url}/v1/sessions")
        assert listed.status_code == 503 and "disabled" in listed.json()["error"]["message"]
