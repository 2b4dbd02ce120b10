"""``aixgo serve`` as a user meets it (issue 27, item 10): a busy port, a config without agents, the
default log, and what an error body may say. A real process, real HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import httpx
import pytest

from aixgo.session import FileBackend, Manager
from tests.server.serving import Served, no_traceback, write_config
from tests.session.redis_server import free_port
from tests.support.openai_server import OpenAIServer

EXIT_ADDRESS_IN_USE = 1


def _offline(tmp_path: Path) -> Path:
    path = tmp_path / "offline.yaml"
    path.write_text(f"session: {{base_dir: {tmp_path / 'store'}, fsync: never}}\nllm: {{provider: scripted}}\n"
                    "agents:\n  - {name: offline, model: scripted}\n")
    return path


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aixgo", "serve", *args], capture_output=True, text=True,
                          timeout=60, check=False, stdin=subprocess.DEVNULL)


def test_a_busy_port_is_one_line_before_any_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve(str(_offline(tmp_path)), "--port", str(port))
    assert done.returncode == EXIT_ADDRESS_IN_USE
    lines = done.stderr.strip().splitlines()
    assert lines == [f"error: cannot listen on 127.0.0.1:{port}: the address is already in use "
                     "(another aixgo serve?); stop it, or choose another --port"], done.stderr
    assert done.stdout == ""


def test_serve_refuses_a_config_without_agents_as_run_does(tmp_path: Path) -> None:
    path = tmp_path / "none.yaml"
    path.write_text(f"session: {{base_dir: {tmp_path / 'store'}}}\n")
    done = _serve(str(path), "--port", str(free_port()))
    assert done.returncode == 2
    assert "the config declares no agents" in done.stderr
    assert "aixgo serve:" not in done.stderr and no_traceback(done.stderr)
    ran = subprocess.run([sys.executable, "-m", "aixgo", "run", str(path), "-m", "hi"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert ran.returncode == 2 and "the config declares no agents" in ran.stderr


def test_unknown_routes_and_methods_answer_openai_shaped_json(tmp_path: Path) -> None:
    with Served(_offline(tmp_path)) as server:
        for method, path, status in (("GET", "/", 404), ("GET", "/nothing", 404), ("GET", "/ui/nothing", 404),
                                     ("POST", "/healthz", 405), ("DELETE", "/v1/models", 405),
                                     ("PUT", "/v1/chat/completions", 405)):
            answer = httpx.request(method, server.url + path, timeout=30)
            assert answer.status_code == status, (method, path)
            assert answer.headers["content-type"] == "application/json"
            error = answer.json()["error"]
            assert error["message"] and error["type"] in ("not_found_error", "invalid_request_error")


def test_the_default_log_is_one_access_line_per_request(tmp_path: Path) -> None:
    with Served(_offline(tmp_path)) as server:
        for text in ("hello", "my name is Ada"):
            answer = httpx.post(server.url + "/v1/chat/completions", timeout=30, headers={"X-Session-Id": "s-1"},
                                json={"model": "offline", "messages": [{"role": "user", "content": text}]})
            assert answer.status_code == 200
        _, output = server.stop()
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines[0].startswith("aixgo serve: agents offline on ")
    logged = lines[1:]
    turns = [line for line in logged if "path=/v1/chat/completions" in line]
    assert len(turns) == 2 and all("http.request" in line and "session_id=s-1" in line for line in turns)
    assert [line for line in logged if "http.request" not in line] == [], output


def test_error_bodies_name_neither_the_store_folder_nor_the_upstream(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there: the model cannot be reached
    upstream = cast(OpenAIServer, SimpleNamespace(base_url=f"http://127.0.0.1:{closed}/v1"))
    store = tmp_path / "store"
    with Manager(FileBackend(store)) as mgr:
        mgr.create("bot", "damaged").append_message("user", "hello")
    damaged = next(store.rglob("damaged*.jsonl"))
    damaged.write_text(damaged.read_text().replace('"hello"', '"HELLO"'))  # fails its checksum
    with Served(write_config(tmp_path, upstream)) as server:
        unreachable = httpx.post(server.url + "/v1/chat/completions", timeout=60,
                                 json={"model": "bot", "messages": [{"role": "user", "content": "hi"}]})
        corrupt = httpx.get(server.url + "/v1/sessions/damaged", timeout=30)
        _, output = server.stop()
    assert unreachable.status_code == 502 and corrupt.status_code >= 500, (unreachable.text, corrupt.text)
    for answer in (unreachable, corrupt):
        body = json.dumps(answer.json())
        assert str(closed) not in body and "127.0.0.1" not in body, body
        assert str(tmp_path) not in body and "jsonl" not in body, body
        assert answer.json()["error"]["message"]
    assert str(closed) in output and str(store) in output  # the log keeps them for the operator


def test_the_serving_loop_is_uvloops_when_it_is_installed() -> None:
    """uvicorn picks uvloop for the loop it makes; the loop serve makes itself (lent to the MCP hub) must too:
    on the plain asyncio loop a turn through the server took ~40 ms longer at one request at a time."""
    uvloop = pytest.importorskip("uvloop")
    from aixgo.cli.serve import _new_loop

    loop = _new_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
