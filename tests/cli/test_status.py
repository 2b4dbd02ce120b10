"""The spinner of ``aixgo run`` on a terminal: one frame per interval, however often its text changes
(a changed text woke it for good: it then wrote frames as fast as it could, thousands a second, while
the model thought)."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest

from aixgo.cli import status as status_module
from aixgo.cli.status import Status


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Watched(threading.Event):
    """An event that notes, for each timed wait, whether it was already set (the wait returned at once)."""

    def __init__(self) -> None:
        super().__init__()
        self.stale: list[bool] = []
        self.frames = threading.Semaphore(0)

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is not None:
            self.stale.append(self.is_set())
            self.frames.release()
        return super().wait(timeout)


def test_a_new_text_wakes_the_spinner_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status_module.sys, "stderr", _Terminal())
    monkeypatch.setattr(status_module, "INTERVAL", 0.01)
    with Status(enabled=True) as status:
        watched = _Watched()
        status._wake = watched
        status.show("thinking")
        for text in ("calculator(…) …", "thinking", "more"):
            assert watched.frames.acquire(timeout=30)
            status.show(text)  # wakes the spinner: the next frame comes now, then one per interval
        for _ in range(20):
            assert watched.frames.acquire(timeout=30)
    waits: Any = watched.stale
    assert sum(waits) <= 4, f"{sum(waits)} of {len(waits)} waits returned at once"
