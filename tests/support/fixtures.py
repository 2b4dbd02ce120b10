"""Shared fixtures for the LLM and agent tests; import them from a test package's ``conftest.py``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aixgo.llm import OpenAIChatModel, RetryPolicy
from aixgo.session import FileBackend, Manager
from tests.support.openai_server import OpenAIServer

TEST_KEY = "sk-test-0123456789abcdef"


class RecordingSleep:
    """A ``RetryPolicy.sleep`` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A running local OpenAI-compatible server with an empty reply script."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def fast_retries(sleeps: RecordingSleep) -> RetryPolicy:
    """Two retries whose waits are recorded, not slept."""
    return RetryPolicy(max_retries=2, initial_backoff=0.5, max_backoff=4.0, jitter=0.25, sleep=sleeps)


@pytest.fixture
def server_model(openai_server: OpenAIServer, fast_retries: RetryPolicy) -> OpenAIChatModel:
    """An OpenAIChatModel pointed at :func:`openai_server`."""
    return OpenAIChatModel(
        "test-model", api_key=TEST_KEY, base_url=openai_server.base_url, timeout=5.0, retry_policy=fast_retries
    )


@pytest.fixture
def sessions_dir(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


@pytest.fixture
def session_manager(sessions_dir: Path) -> Iterator[Manager]:
    with Manager(FileBackend(sessions_dir, fsync="never")) as manager:
        yield manager


class LogCapture(logging.Handler):
    """Collects the structlog event dicts aixgo emits through stdlib logging."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[dict[str, Any]] = []
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        event = record.msg if isinstance(record.msg, dict) else {"event": record.getMessage()}
        self.events.append(event)
        self.texts.append(repr(event) + (self.format(record) if record.exc_info else ""))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == name]


@pytest.fixture
def aixgo_logs() -> Iterator[LogCapture]:
    """Every aixgo log event of the test (DEBUG and up)."""
    handler = LogCapture()
    logger = logging.getLogger("aixgo")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
