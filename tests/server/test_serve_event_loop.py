"""``aixgo serve`` never reads the store on its event loop: every store call of a request runs on the
session manager's I/O pool (``Session.info`` read the store on the loop for ``GET /v1/sessions/{id}``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from aixgo.runtime import Runtime
from aixgo.server import create_app
from aixgo.session import Backend, FileBackend, Manager

READS = ("get_info", "history", "all_entries", "list_checkpoints", "list_sessions", "snapshot", "restore")


def watch_the_loop(backend: Backend) -> list[str]:
    """The store calls of ``backend`` made on a thread that runs an event loop (recorded, then done)."""
    on_loop: list[str] = []
    for name in READS:
        real: Callable[..., Any] = getattr(backend, name)

        def call(*args: Any, _real: Callable[..., Any] = real, _name: str = name, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
                on_loop.append(_name)
            except RuntimeError:
                pass
            return _real(*args, **kwargs)

        setattr(backend, name, call)
    return on_loop


def test_the_sessions_api_reads_the_store_off_the_event_loop(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "store")
    with Manager(backend) as mgr:
        sess = mgr.create("bot", "s-1")
        sess.append_message("user", "hello")
        cp = sess.checkpoint()
        on_loop = watch_the_loop(backend)
        app = create_app(Runtime(mgr))

        async def requests() -> list[int]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://aixgo") as http:
                paths = ["/v1/sessions/s-1", "/v1/sessions/s-1/checkpoints", "/v1/sessions",
                         "/v1/sessions/s-1/export", "/readyz"]
                answers = [await http.get(path) for path in paths]
                answers.append(await http.post("/v1/sessions/s-1/restore", json={"checkpoint_id": cp.id}))
                return [answer.status_code for answer in answers]

        assert asyncio.run(requests()) == [200] * 6
    assert on_loop == []


def test_get_info_is_an_explicit_read_with_an_awaitable_twin(tmp_path: Path) -> None:
    with Manager(FileBackend(tmp_path / "store")) as mgr:
        sess = mgr.create("bot", "s-1")
        other = mgr.get("s-1")
        other.append_message("user", "hello")
        assert sess.get_info().message_count == 1  # fresh from the store, not what the handle saw
        other.append_message("assistant", "hi")
        assert asyncio.run(sess.aget_info()).message_count == 2
        assert sess.info.message_count == 2  # the property stays, for code written before get_info
