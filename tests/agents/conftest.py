"""Fixtures for these tests live in tests/support/fixtures.py."""

from tests.support.fixtures import (  # noqa: F401
    aixgo_logs,
    fast_retries,
    openai_server,
    server_model,
    session_manager,
    sessions_dir,
    sleeps,
)
