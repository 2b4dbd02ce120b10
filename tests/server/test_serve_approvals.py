"""Approvals over HTTP through a real ``aixgo serve``: a turn that meets a tool call needing approval
answers like a turn calling tools (the real ``openai`` client reads it), the calls are listed and
decided at ``/v1/sessions/{id}/approvals``, the decision continues the same turn, a denied call never
runs; across a server restart, and across two servers on one Redis (another node decides)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.server.serving import Served, no_traceback
from tests.session.redis_server import RedisServer, require_redis_server
from tests.support.approval_tools import approval_config, runs
from tests.support.openai_server import OpenAIServer, call, text, tool_calls

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def upstream() -> Iterator[OpenAIServer]:
    with OpenAIServer() as started:
        yield started


def write_config(tmp_path: Path, upstream: OpenAIServer, store: str = "") -> Path:
    return approval_config(tmp_path / "serve.yaml", upstream.base_url,
                           store or f"session: {{base_dir: {tmp_path / 'store'}, fsync: never}}")


def serve(config: Path, tmp_path: Path) -> Served:
    return Served(config, env={"AIXGO_TEST_RUNS": str(tmp_path / "runs.txt"), "PYTHONPATH": str(ROOT)})


def chat(served: Served, message: str, session: str, **more: Any) -> httpx.Response:
    return httpx.post(f"{served.url}/v1/chat/completions", headers={"X-Session-Id": session}, timeout=60,
                      json={"model": "bot", "messages": [{"role": "user", "content": message}], **more})


def decide(served: Served, session: str, call_id: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{served.url}/v1/sessions/{session}/approvals/{call_id}", json=body, timeout=60)


def listed(served: Served, session: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{served.url}/v1/sessions/{session}/approvals", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]  # type: ignore[no-any-return]


def test_a_paused_turn_answers_with_its_waiting_calls_and_an_approval_continues_it(
    tmp_path: Path, upstream: OpenAIServer
) -> None:
    upstream.enqueue(tool_calls(call("look", {"topic": "diff"}, id="call_look"),
                                call("record", {"label": "release"}, id="call_rec"), content="Checking first."),
                     text("Released."))
    with serve(write_config(tmp_path, upstream), tmp_path) as served:
        client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="bot", messages=[{"role": "user", "content": "release it"}], extra_headers={"X-Session-Id": "s1"})
        completion = raw.parse()
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content == "Checking first."
        assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls or []] \
            == [("call_rec", "record", {"label": "release"})]
        body = json.loads(raw.http_response.text)
        (pending,) = body["pending_approvals"]
        assert {k: pending[k] for k in ("object", "call_id", "session_id", "agent", "name", "status", "url")} == {
            "object": "approval", "call_id": "call_rec", "session_id": "s1", "agent": "bot", "name": "record",
            "status": "pending", "url": "/v1/sessions/s1/approvals/call_rec"}
        assert runs(tmp_path / "runs.txt") == []
        assert [a["call_id"] for a in listed(served, "s1")] == ["call_rec"]

        answer = decide(served, "s1", "call_rec", decision="approve", by="alice")
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Session-Id"] == "s1"
        done = answer.json()
        assert done["choices"][0]["message"] == {"role": "assistant", "content": "Released."}
        assert done["choices"][0]["finish_reason"] == "stop" and "pending_approvals" not in done
        assert runs(tmp_path / "runs.txt") == ["look diff", "record release"]
        assert listed(served, "s1") == []
        code, output = served.stop()
    assert code in (0, -15) and no_traceback(output)  # uvicorn re-raises SIGTERM once it has shut down


def test_a_denied_call_never_runs_and_the_model_reads_the_reason(tmp_path: Path, upstream: OpenAIServer) -> None:
    upstream.enqueue(tool_calls(call("record", {"label": "x"}, id="call_x")), text("Not done, as you wish."))
    with serve(write_config(tmp_path, upstream), tmp_path) as served:
        assert chat(served, "record x", "s1").json()["choices"][0]["finish_reason"] == "tool_calls"
        answer = decide(served, "s1", "call_x", decision="deny", reason="needs a review")
        assert answer.json()["choices"][0]["message"]["content"] == "Not done, as you wish."
    assert runs(tmp_path / "runs.txt") == []
    told = upstream.chat_requests[-1]["messages"][-1]
    assert told["tool_call_id"] == "call_x" and "needs a review" in told["content"]


def test_each_call_is_decided_and_refusals_are_4xx_before_anything_is_stored(
    tmp_path: Path, upstream: OpenAIServer
) -> None:
    upstream.enqueue(tool_calls(call("record", {"label": "a"}, id="call_a"), call("record", {"label": "b"}, id="call_b")),
                     text("Both handled."))
    with serve(write_config(tmp_path, upstream), tmp_path) as served:
        chat(served, "record a and b", "s1")
        bad = [decide(served, "s1", "call_a", decision="maybe"), decide(served, "s1", "call_a"),
               decide(served, "s1", "call_a", decision="deny", reason=7)]
        assert [r.status_code for r in bad] == [400, 400, 400]
        assert "decision" in bad[0].json()["error"]["message"] and "reason" in bad[2].json()["error"]["message"]
        assert decide(served, "s1", "call_zzz", decision="approve").status_code == 404
        assert decide(served, "nope", "call_a", decision="approve").status_code == 404
        assert [a["status"] for a in listed(served, "s1")] == ["pending", "pending"]

        half = decide(served, "s1", "call_b", decision="approve")
        assert half.status_code == 200 and half.json()["choices"][0]["finish_reason"] == "tool_calls"
        assert [a["call_id"] for a in half.json()["pending_approvals"]] == ["call_a"]
        assert [(a["call_id"], a["status"]) for a in listed(served, "s1")] == [("call_a", "pending"),
                                                                                ("call_b", "approved")]
        again = decide(served, "s1", "call_b", decision="deny")
        assert again.status_code == 409 and again.json()["error"]["code"] == "ApprovalDecidedError"
        refused = chat(served, "something else", "s1")
        assert refused.status_code == 409 and refused.json()["error"]["type"] == "approval_pending"
        assert "call_a" in refused.json()["error"]["message"]
        assert len(upstream.chat_requests) == 1 and runs(tmp_path / "runs.txt") == []

        done = decide(served, "s1", "call_a", decision="deny")
        assert done.json()["choices"][0]["message"]["content"] == "Both handled."
        assert runs(tmp_path / "runs.txt") == ["record b"]
        _, output = served.stop()
    assert no_traceback(output)


def test_streamed_the_pause_is_a_tool_calls_delta_and_the_decision_streams_the_rest(
    tmp_path: Path, upstream: OpenAIServer
) -> None:
    upstream.enqueue(tool_calls(call("record", {"label": "s"}, id="call_s")), text("Streamed answer here."))
    with serve(write_config(tmp_path, upstream), tmp_path) as served:
        client = openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)
        chunks = list(client.chat.completions.create(model="bot", stream=True, extra_headers={"X-Session-Id": "s1"},
                                                     messages=[{"role": "user", "content": "record s"}]))
        calls = [c for chunk in chunks for c in (chunk.choices[0].delta.tool_calls or []) if chunk.choices]
        assert [(c.id, c.function.name) for c in calls] == [("call_s", "record")]  # type: ignore[union-attr]
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
        with httpx.stream("POST", f"{served.url}/v1/sessions/s1/approvals/call_s", timeout=60,
                          json={"decision": "approve", "stream": True}) as answer:
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
            lines = [line for line in answer.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    payloads = [json.loads(line[6:]) for line in lines[:-1]]
    said = "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads if p.get("choices"))
    assert said == "Streamed answer here." and payloads[-1]["choices"][0]["finish_reason"] == "stop"
    assert runs(tmp_path / "runs.txt") == ["record s"]


def test_a_decision_after_the_server_was_killed_and_started_again_continues_the_turn(
    tmp_path: Path, upstream: OpenAIServer
) -> None:
    config = write_config(tmp_path, upstream)
    upstream.enqueue(tool_calls(call("record", {"label": "r"}, id="call_r")))
    with serve(config, tmp_path) as first:
        assert chat(first, "record r", "s1").json()["choices"][0]["finish_reason"] == "tool_calls"
        first.stop(signal.SIGKILL)
    upstream.enqueue(text("Recorded after the restart."))
    with serve(config, tmp_path) as second:
        assert [a["call_id"] for a in listed(second, "s1")] == ["call_r"]
        done = decide(second, "s1", "call_r", decision="approve")
        assert done.json()["choices"][0]["message"]["content"] == "Recorded after the restart."
    assert runs(tmp_path / "runs.txt") == ["record r"]
    sent = upstream.chat_requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]  # the same turn, continued
    assert sent[0]["content"] == "record r"


@pytest.mark.redis
def test_another_node_on_the_same_redis_decides(tmp_path: Path, upstream: OpenAIServer) -> None:
    require_redis_server()
    with RedisServer() as redis:
        config = write_config(tmp_path, upstream, f"session: {{store: redis, redis: {{url: '{redis.url}'}}}}")
        upstream.enqueue(tool_calls(call("record", {"label": "n"}, id="call_n")), text("Done on node B."))
        with serve(config, tmp_path) as node_a, serve(config, tmp_path) as node_b:
            assert chat(node_a, "record n", "s1").json()["choices"][0]["finish_reason"] == "tool_calls"
            assert [a["call_id"] for a in listed(node_b, "s1")] == ["call_n"]
            done = decide(node_b, "s1", "call_n", decision="approve")
            assert done.json()["choices"][0]["message"]["content"] == "Done on node B."
            assert listed(node_a, "s1") == []
        pids = {line.split()[-1] for line in (tmp_path / "runs.txt").read_text().splitlines()}
    assert runs(tmp_path / "runs.txt") == ["record n"] and pids == {str(node_b.process.pid)}
    assert os.getpid() not in {int(p) for p in pids}
