"""A standard OpenAI client (or chat UI) sends the whole conversation with every request and no
``X-Session-Id``: ``aixgo serve`` must treat that list as the conversation (the model sees all of it,
the stored session holds it), return the session's id, and continue from the stored history when the
client names the session again (header or ``metadata.session_id``). Request fields it cannot honour are
refused with OpenAI's 400, never silently ignored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from aixgo.session import FileBackend, Manager
from tests.server.serving import Served, echo, write_config
from tests.support.openai_server import OpenAIServer


@pytest.fixture
def upstream() -> Iterator[OpenAIServer]:
    with OpenAIServer(responder=echo) as server:
        yield server


@pytest.fixture
def served(upstream: OpenAIServer, tmp_path: Path) -> Iterator[Served]:
    with Served(write_config(tmp_path, upstream)) as running:
        yield running


def client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)


def stored(tmp_path: Path, session_id: str) -> list[dict[str, Any]]:
    with Manager(FileBackend(tmp_path / "store")) as manager:
        return [{"role": e.data["role"], "content": e.data.get("content")}
                for e in manager.get(session_id).get_entries() if e.type.value == "message"]


def sent_to_model(upstream: OpenAIServer) -> list[dict[str, Any]]:
    """The last request's messages after the agent's own system prompt."""
    messages = upstream.chat_requests[-1]["messages"]
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def test_a_multi_turn_chat_without_a_session_header_is_one_conversation(
    served: Served, upstream: OpenAIServer, tmp_path: Path
) -> None:
    api = client(served)
    conversation: list[Any] = [{"role": "system", "content": "Answer like a pirate."},
                               {"role": "user", "content": "My name is Ada."}]
    first = api.chat.completions.with_raw_response.create(model="bot", messages=conversation)
    answer = first.parse().choices[0].message.content
    assert answer == "answer to My name is Ada. (after 0 earlier)"
    conversation += [{"role": "assistant", "content": answer}, {"role": "user", "content": "What is my name?"}]
    second = api.chat.completions.with_raw_response.create(model="bot", messages=conversation)
    # the model saw the client's whole conversation: its system prompt, the earlier turn, the new message
    assert second.parse().choices[0].message.content == "answer to What is my name? (after 1 earlier)"
    assert sent_to_model(upstream) == conversation
    # and the session the server answered from holds it, with the answer
    session_id = second.headers["x-session-id"]
    assert stored(tmp_path, session_id) == [*conversation, {"role": "assistant",
                                                            "content": "answer to What is my name? (after 1 earlier)"}]
    # a client that sends the id back continues from the stored history: the resent turns are not stored twice
    third = api.chat.completions.create(
        model="bot", extra_headers={"X-Session-Id": session_id},
        messages=[*conversation, {"role": "assistant", "content": "Ada"}, {"role": "user", "content": "And now?"}])
    assert third.choices[0].message.content == "answer to And now? (after 2 earlier)"
    assert [m["content"] for m in stored(tmp_path, session_id)].count("My name is Ada.") == 1
    # so does one that names it in metadata.session_id (the header wins when both are there)
    fourth = api.chat.completions.with_raw_response.create(
        model="bot", metadata={"session_id": session_id}, messages=[{"role": "user", "content": "Still there?"}])
    assert fourth.headers["x-session-id"] == session_id
    assert fourth.parse().choices[0].message.content == "answer to Still there? (after 3 earlier)"


def test_streamed_standard_chat_stores_the_whole_conversation(
    served: Served, upstream: OpenAIServer, tmp_path: Path
) -> None:
    conversation: list[Any] = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "1"},
                               {"role": "user", "content": "two"}]
    with client(served).chat.completions.with_streaming_response.create(
            model="bot", messages=conversation, stream=True) as response:
        session_id = response.headers["x-session-id"]
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    assert text == "answer to two (after 1 earlier)"
    assert sent_to_model(upstream) == conversation
    assert [m["content"] for m in stored(tmp_path, session_id)] == ["one", "1", "two", text]


def test_a_new_session_named_by_the_client_takes_the_whole_conversation(
    served: Served, upstream: OpenAIServer, tmp_path: Path
) -> None:
    conversation: list[Any] = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "a"},
                               {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    client(served).chat.completions.create(model="bot", messages=conversation, extra_headers={"X-Session-Id": "named"})
    expected = [{"role": "system", "content": "Be brief."}, *conversation[1:]]
    assert sent_to_model(upstream) == expected
    assert stored(tmp_path, "named")[:4] == expected


def test_honoured_sampling_fields_reach_the_model(served: Served, upstream: OpenAIServer) -> None:
    client(served).chat.completions.create(
        model="bot", messages=[{"role": "user", "content": "hi"}], temperature=0.25, top_p=0.5, max_tokens=77,
        stop=["END"], seed=7, presence_penalty=0.5, frequency_penalty=-0.5, n=1, response_format={"type": "text"})
    sent = upstream.chat_requests[-1]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["stop"], sent["seed"]) == (
        0.25, 0.5, 77, ["END"], 7)
    assert (sent["presence_penalty"], sent["frequency_penalty"]) == (0.5, -0.5)


@pytest.mark.parametrize(("field", "value"), [
    ("tools", [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]),
    ("tool_choice", "required"),
    ("functions", [{"name": "f"}]),
    ("response_format", {"type": "json_object"}),
    ("logprobs", True),
    ("n", 2),
    ("audio", {"voice": "alloy"}),
])
def test_fields_aixgo_cannot_honour_are_refused_and_nothing_is_stored(
    served: Served, upstream: OpenAIServer, tmp_path: Path, field: str, value: object
) -> None:
    body = {"model": "bot", "messages": [{"role": "user", "content": "hi"}], field: value}
    answer = httpx.post(f"{served.url}/v1/chat/completions", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == field, error
    assert field in error["message"]
    assert upstream.chat_requests == []
    assert not (tmp_path / "store" / "bot").exists() or not list((tmp_path / "store" / "bot").glob("*.jsonl"))


@pytest.mark.parametrize(("messages", "wording"), [
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "end with a user message"),
    ([{"role": "function", "name": "f", "content": "x"}, {"role": "user", "content": "q"}], "function"),
])
def test_conversations_that_cannot_be_a_turn_are_refused(
    served: Served, upstream: OpenAIServer, messages: list[dict[str, Any]], wording: str
) -> None:
    answer = httpx.post(f"{served.url}/v1/chat/completions", content=json.dumps({"model": "bot", "messages": messages}))
    assert answer.status_code == 400 and wording in answer.json()["error"]["message"], answer.text
    assert upstream.chat_requests == []
