"""Fixtures of the ``aixgo sessions`` tests: a seeded file store, a CLI runner, a private redis-server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from aixgo.cli import cli
from aixgo.session import EntryType, FileBackend, Manager
from tests.session.redis_server import RedisServer, require_redis_server


@dataclass
class SeededStore:
    """A file store holding three sessions; ``chat`` has a tool call, two checkpoints and a restore."""

    base_dir: Path
    chat: str = "chat-1"
    other: str = "chat-2"
    empty: str = "code-1"
    cp_question: str = ""
    cp_answer: str = ""

    def manager(self) -> Manager:
        return Manager(FileBackend(self.base_dir))

    def args(self, *args: str) -> list[str]:
        """``sessions <args> --base-dir <store>``."""
        return ["sessions", *args, "--base-dir", str(self.base_dir)]


def seed_sessions(mgr: Manager) -> tuple[str, str]:
    """Create the sessions of :class:`SeededStore` in ``mgr``; returns the two checkpoint ids."""
    chat = mgr.create("assistant", "chat-1", user_id="alice", metadata={"title": "weather"})
    chat.append_message("system", "You are helpful.")
    chat.append_message("user", "Wie ist das Wetter in Zürich? 🌦\nAnd in Rome?")
    cp_question = chat.checkpoint({"reason": "before tools"})
    chat.append_message(
        "assistant",
        None,
        tool_calls=[
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps({"city": "Zürich"})},
            }
        ],
    )
    chat.append_message("tool", '{"temp_c": 21}', tool_call_id="call_1")
    chat.append_message("assistant", "It is 21 °C in Zürich.")
    chat.append_entry(EntryType.USAGE, {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19})
    cp_answer = chat.checkpoint({"reason": "answered"})
    chat.restore(cp_question.id)
    chat.append_message("assistant", "Let me ask differently.")
    other = mgr.create("assistant", "chat-2", user_id="bob")
    other.append_message("user", "Hi")
    mgr.create("coder", "code-1")
    return cp_question.id, cp_answer.id


@pytest.fixture
def seeded_store(tmp_path: Path) -> SeededStore:
    store = SeededStore(tmp_path / "store")
    with store.manager() as mgr:
        store.cp_question, store.cp_answer = seed_sessions(mgr)
    return store


@pytest.fixture
def sessions_runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, args: list[str], **kwargs: object) -> Result:
    """Run ``aixgo <args>`` in-process (errors are handled by the CLI, as for a user)."""
    return runner.invoke(cli, args, catch_exceptions=False, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def cli_redis_server() -> Iterator[RedisServer]:
    """One private redis-server (loopback, free port, nothing saved) for the sessions CLI tests."""
    require_redis_server()
    with RedisServer() as server:
        yield server


@pytest.fixture
def cli_redis_url(cli_redis_server: RedisServer) -> str:
    """The server's URL, with an empty database for each test."""
    client = cli_redis_server.client()
    client.flushdb()
    client.close()
    return cli_redis_server.url
