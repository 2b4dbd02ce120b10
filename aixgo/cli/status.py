"""A status line on the terminal while a turn waits: a spinner and what is happening.

Only on a terminal (stderr is a TTY): a pipe or a file gets no spinner, colours or cursor moves.
"""

from __future__ import annotations

import itertools
import sys
import threading
from types import TracebackType

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
INTERVAL = 0.1


class Status:
    """``with Status(enabled) as status: status.show("thinking")`` … ``status.clear()``."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._text = ""
        self._visible = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def show(self, text: str) -> None:
        """Show ``text`` with a spinner until :meth:`clear`."""
        if not self.enabled:
            return
        with self._lock:
            self._text = text
        if self._thread is None:
            self._thread = threading.Thread(target=self._spin, name="aixgo-status", daemon=True)
            self._thread.start()
        self._wake.set()

    def clear(self) -> None:
        """Remove the status line (before anything else is written)."""
        if not self.enabled:
            return
        with self._lock:
            self._text = ""
            if self._visible:
                sys.stderr.write("\r\033[2K")
                sys.stderr.flush()
                self._visible = False

    def _spin(self) -> None:
        for frame in itertools.cycle(FRAMES):
            if self._stopped:
                return
            with self._lock:
                if self._text:
                    sys.stderr.write(f"\r\033[2K\033[2m{frame} {self._text}\033[0m")
                    sys.stderr.flush()
                    self._visible = True
            if not self._text:
                self._wake.wait()
            else:
                self._wake.wait(INTERVAL)
            self._wake.clear()  # woken by show(): once, not on every frame after

    def __enter__(self) -> Status:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.clear()
        self._stopped = True
        self._wake.set()
