"""``aixgo serve`` and nesting: a body or a value nested too deeply is a 4xx that stores nothing, and a
value stored before the bound (``MAX_JSON_DEPTH``) is still served. A real server, real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aixgo.session import EntryType, FileBackend, Manager
from tests.server.serving import Served, echo, no_traceback, write_config
from tests.session.contract_transfer import deep, write_as_an_older_aixgo
from tests.support.openai_server import OpenAIServer


def nested_text(depth: int) -> str:
    """JSON text of an object ``depth`` levels deep (``json.dumps`` itself could not write it here)."""
    return '{"x":' * (depth - 1) + "{}" + "}" * (depth - 1)


@pytest.fixture
def upstream() -> Iterator[OpenAIServer]:
    with OpenAIServer(responder=echo) as server:
        yield server


@pytest.fixture
def served(upstream: OpenAIServer, tmp_path: Path) -> Iterator[Served]:
    with Manager(FileBackend(tmp_path / "store")) as mgr:
        mgr.create("bot", "s-1").append_message("user", "hello")
    with Served(write_config(tmp_path, upstream)) as running:
        yield running


def test_a_value_nested_too_deeply_is_refused_and_stores_nothing(served: Served, tmp_path: Path) -> None:
    http = httpx.Client(base_url=served.url, timeout=30)
    for depth in (101, 960, 30_000):
        answer = http.post("/v1/sessions/s-1/checkpoints", content=f'{{"metadata":{nested_text(depth)}}}',
                           headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text[:500]
        assert "nested deeper than" in answer.json()["error"]["message"]
    body = '{"model":"bot","messages":[{"role":"user","content":"hi"}],"x":' + nested_text(30_000) + "}"
    answer = http.post("/v1/chat/completions", content=body, headers={"X-Session-Id": "s-1"})
    assert answer.status_code == 400 and "nested deeper than" in answer.json()["error"]["message"]
    assert http.get("/v1/sessions/s-1").status_code == 200
    assert http.get("/v1/sessions/s-1/checkpoints").json()["data"] == []
    assert http.post("/v1/sessions/s-1/checkpoints", content=f'{{"metadata":{nested_text(99)}}}').status_code == 201
    with Manager(FileBackend(tmp_path / "store")) as mgr:
        assert [e.data["content"] for e in mgr.get("s-1").get_entries()] == ["hello"]  # no turn ran
    assert no_traceback(served.stop()[1])


def test_a_value_stored_deeper_than_the_bound_is_still_served(
    upstream: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def write() -> None:
        with Manager(FileBackend(tmp_path / "store")) as mgr:
            sess = mgr.create("bot", "deep", metadata=deep(960))
            sess.append_message("user", "hello")
            sess.append_entry(EntryType.METADATA, deep(960))
            sess.checkpoint(metadata=deep(960))

    write_as_an_older_aixgo(monkeypatch, write)
    with Served(write_config(tmp_path, upstream)) as served:
        http = httpx.Client(base_url=served.url, timeout=30)
        for path, copies in (("/v1/sessions/deep", 3), ("/v1/sessions/deep/checkpoints", 1),
                             ("/v1/sessions/deep/export", 3), ("/v1/sessions?agent=bot", 1)):
            answer = http.get(path)
            assert answer.status_code == 200, (path, answer.text[:500])
            assert answer.text.replace(" ", "").count('{"x":') >= copies * 959, path
        assert no_traceback(served.stop()[1])
