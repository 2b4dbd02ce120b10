"""The last lines a stdio MCP server wrote to stderr, kept to explain why it stopped."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from typing import TextIO

from aixgo.logs import get_logger
from aixgo.redaction import mask_secrets

log = get_logger("aixgo.mcp")

TAIL_LINES = 20
LINE_CHARS = 500


class StderrTail:
    """A pipe for a server's stderr, read by a daemon thread that keeps the last :data:`TAIL_LINES`
    lines and logs each (``mcp.server.stderr``, debug level).

    Pass :attr:`writer` as the process's stderr, then call :meth:`close_writer` once it started (the
    thread ends when the server and everything it started have closed their copies)."""

    def __init__(self, server: str) -> None:
        read_fd, write_fd = os.pipe()
        self.server = server
        self.writer: TextIO = open(write_fd, "w", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by close_writer
        self._lines: deque[str] = deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, args=(read_fd,), name=f"aixgo-mcp-stderr-{server}",
                                        daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        with open(fd, encoding="utf-8", errors="replace") as stream:
            for raw in stream:
                line = mask_secrets(raw.rstrip("\r\n"))[:LINE_CHARS]
                if not line.strip():
                    continue
                with self._lock:
                    self._lines.append(line)
                log.debug("mcp.server.stderr", server=self.server, line=line)

    def close_writer(self) -> None:
        """Close this process's copy of the pipe's writing end (safe to call twice)."""
        if not self.writer.closed:
            self.writer.close()

    def tail(self, wait: float = 0.0) -> list[str]:
        """The last lines written; ``wait`` seconds at most for the reader to reach the end (a server
        that just exited may still have lines in the pipe)."""
        if wait:
            self._reader.join(timeout=wait)
        with self._lock:
            return list(self._lines)

    async def atail(self, wait: float) -> list[str]:
        """:meth:`tail` for the event loop: waits up to ``wait`` seconds for the reader to reach the end
        without blocking the loop (a server that just exited may still have its last words in the pipe)."""
        deadline = time.monotonic() + wait
        while self._reader.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.tail()


__all__ = ["LINE_CHARS", "TAIL_LINES", "StderrTail"]
