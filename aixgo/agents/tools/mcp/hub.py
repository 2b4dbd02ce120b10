"""The process's MCP connections, on an event loop of their own.

One :class:`MCPHub` per process (:func:`mcp_hub`) keeps one :class:`MCPConnection` per server spec,
counted by who uses it (a runtime, an agent's toolset), and runs them all on one event loop in a
daemon thread. Agents call tools from whatever loop they run on (the runtime's, ``aixgo serve`` 's,
yours): the call hops to the hub's loop and back, so sessions never depend on the life of a caller's
loop (``asyncio.run`` per call is fine). Connections are closed cleanly when their last user lets go,
and at interpreter exit.

A process that serves on one long-lived loop (``aixgo serve``) lends it to the hub before any
connection starts (:meth:`MCPHub.use_loop`): its turns then call the servers on their own loop, with
no hop to another thread and back (two thread wake-ups a call, which a busy machine makes slow).
While that loop is not running (at start-up, at shutdown), the hub runs it itself for what it has to do.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TypeVar

from aixgo.agents.tools.mcp.spec import MCPServerSpec
from aixgo.errors import MissingDependencyError

if TYPE_CHECKING:
    from aixgo.agents.tools.mcp.connection import MCPConnection

T = TypeVar("T")

CLOSE_TIMEOUT = 20.0


class MCPHub:
    """Connections by spec, their users counted, on the hub's own event loop (started on first use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: dict[MCPServerSpec, tuple[MCPConnection, int]] = {}
        self._borrowed = False

    # -- the loop ---------------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The hub's event loop (started now if needed)."""
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                ready = threading.Event()
                loop = asyncio.new_event_loop()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=serve, name="aixgo-mcp", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop, self._borrowed = loop, False
            return self._loop

    def use_loop(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Run the connections on ``loop``, which its owner keeps for the life of the process, instead
        of on a thread of the hub's own (see the module). Only before the hub has a loop: False if it
        already runs on another one (nothing changes then)."""
        with self._lock:
            if self._loop is not None and not self._loop.is_closed():
                return self._loop is loop
            self._loop, self._thread, self._borrowed = loop, None, True
            return True

    def _idle(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether ``loop`` is a lent loop nobody runs now, which this thread may run."""
        if not self._borrowed or loop.is_running() or loop.is_closed():
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return True
        return False

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the hub's loop and wait for it (from a thread that is not running it)."""
        loop = self.loop
        if self._idle(loop):
            return loop.run_until_complete(asyncio.wait_for(coro, timeout))
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the hub's loop from any loop (directly when already on it)."""
        loop = self.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    # -- connections ------------------------------------------------------------------------------

    def acquire(self, spec: MCPServerSpec) -> MCPConnection:
        """The connection for ``spec`` (made if none; it connects when first started or used), with
        one more user. Pair with :meth:`release`.

        Raises:
            MissingDependencyError: the ``mcp`` extra is not installed.
        """
        try:
            from aixgo.agents.tools.mcp.connection import MCPConnection  # noqa: PLC0415 - the optional extra
        except ImportError as exc:
            raise MissingDependencyError("MCP servers", "mcp") from exc
        with self._lock:
            connection, users = self._connections.get(spec, (None, 0))
            if connection is None:
                connection = MCPConnection(spec, self)
            self._connections[spec] = (connection, users + 1)
            return connection

    def release(self, connection: MCPConnection) -> None:
        """One user less; the last one's release closes the connection (waiting for it, bounded)."""
        with self._lock:
            entry = self._connections.get(connection.spec)
            if entry is None or entry[0] is not connection:
                return
            users = entry[1] - 1
            if users > 0:
                self._connections[connection.spec] = (connection, users)
                return
            del self._connections[connection.spec]
        self._close(connection)

    def _close(self, connection: MCPConnection) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if self._idle(loop):
            self._close_idle(loop, connection)
            return
        future = asyncio.run_coroutine_threadsafe(connection.close(), loop)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return  # on the hub's own loop: it closes in the background
        try:
            future.result(CLOSE_TIMEOUT)
        except Exception:  # closing must not mask the caller's own outcome
            future.cancel()

    def connections(self) -> list[MCPConnection]:
        """The open connections."""
        with self._lock:
            return [connection for connection, _ in self._connections.values()]

    def close(self) -> None:
        """Close every connection and stop the loop (at interpreter exit)."""
        with self._lock:
            connections = [connection for connection, _ in self._connections.values()]
            self._connections.clear()
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or loop.is_closed():
            return
        if self._borrowed:  # the owner's loop: close on it, leave it to its owner
            for connection in connections:
                if self._idle(loop):
                    self._close_idle(loop, connection)
                else:
                    self._close_on(loop, connection)
            return
        for connection in connections:
            self._close_on(loop, connection)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=CLOSE_TIMEOUT)

    @staticmethod
    def _close_idle(loop: asyncio.AbstractEventLoop, connection: MCPConnection) -> None:
        with suppress(Exception):  # closing must not mask the caller's own outcome
            loop.run_until_complete(asyncio.wait_for(connection.close(), CLOSE_TIMEOUT))

    @staticmethod
    def _close_on(loop: asyncio.AbstractEventLoop, connection: MCPConnection) -> None:
        future = asyncio.run_coroutine_threadsafe(connection.close(), loop)
        try:
            future.result(CLOSE_TIMEOUT)
        except Exception:
            future.cancel()


_hub: MCPHub | None = None
_hub_lock = threading.Lock()


def mcp_hub() -> MCPHub:
    """This process's hub (made on first use; closed at interpreter exit)."""
    global _hub  # noqa: PLW0603 - one hub per process, by design
    with _hub_lock:
        if _hub is None:
            _hub = MCPHub()
            atexit.register(_hub.close)
        return _hub


__all__ = ["MCPHub", "mcp_hub"]
