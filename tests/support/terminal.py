"""A command run on a pseudo-terminal, as a person at a terminal runs it: its stdin, stdout and stderr are
the terminal (``isatty()`` is true), what it prints is read as the person would see it, and lines are
typed into it."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


class Terminal:
    """``args`` running on a new pseudo-terminal; use as a context manager (the process is killed on exit)."""

    def __init__(self, args: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        master, slave = pty.openpty()
        self.process = subprocess.Popen(list(args), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                        start_new_session=True)
        os.close(slave)
        self.master = master
        self.seen = ""
        """Everything printed so far (``\\r\\n`` as ``\\n``)."""
        self._read_to = 0

    def _read(self, deadline: float) -> bool:
        """Read what is there (waiting until ``deadline``); False once the terminal is closed."""
        ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every process of the terminal has closed it
            return False
        if not chunk:
            return False
        self.seen += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        return True

    def expect(self, text: str, timeout: float = 60) -> str:
        """Wait until ``text`` appears after what an earlier :meth:`expect` consumed; returns what was
        printed up to and including it."""
        deadline = time.monotonic() + timeout
        while text not in self.seen[self._read_to:]:
            if time.monotonic() >= deadline or not self._read(deadline):
                raise AssertionError(f"{text!r} did not appear; the terminal shows:\n{self.seen[-3000:]}")
        end = self.seen.index(text, self._read_to) + len(text)
        shown, self._read_to = self.seen[self._read_to:end], end
        return shown

    def type(self, line: str) -> None:
        """Type ``line`` and Enter."""
        os.write(self.master, (line + "\n").encode())

    def finish(self, timeout: float = 60) -> int:
        """Read until the process ends; its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(deadline):
            pass
        return self.process.wait(timeout=max(1.0, deadline - time.monotonic()))

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        os.close(self.master)
