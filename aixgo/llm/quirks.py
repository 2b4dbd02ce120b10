"""What a server and model turned out not to support, learned while talking to them and kept for the
life of the process, so only the first request pays for finding out.

Keys are the server's base URL (without credentials) and the model name: two agents on one server
and model share what either learned.
"""

from __future__ import annotations

import threading

NO_STREAM_WITH_TOOLS = "no_stream_with_tools"
"""The server cannot stream an answer when tools are offered: llama-cpp-python with a function-calling
chat format opens the event stream and closes it empty ("Automatic streaming tool choice is not
supported"); other servers refuse the request."""


CLEAN_TOOL_SCHEMAS = "clean_tool_schemas"
"""The server refuses some valid tool parameter schemas (see :mod:`aixgo.llm.tool_schemas`)."""


class ServerQuirks:
    """A thread-safe set of ``(server, model, quirk)`` facts."""

    def __init__(self) -> None:
        self._known: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def has(self, server: str, model: str, quirk: str) -> bool:
        """Whether ``quirk`` was learned for ``model`` on ``server``."""
        return (server, model, quirk) in self._known

    def learn(self, server: str, model: str, quirk: str) -> bool:
        """Remember ``quirk``; True the first time."""
        with self._lock:
            key = (server, model, quirk)
            if key in self._known:
                return False
            self._known.add(key)
            return True

    def forget(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._known.clear()


QUIRKS = ServerQuirks()
"""What this process has learned."""

__all__ = ["CLEAN_TOOL_SCHEMAS", "NO_STREAM_WITH_TOOLS", "QUIRKS", "ServerQuirks"]
