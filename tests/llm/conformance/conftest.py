"""Fixtures for these tests live in tests/support/fixtures.py."""

from tests.support.fixtures import (  # noqa: F401
    fast_retries,
    session_manager,
    sessions_dir,
    sleeps,
)
