"""One MCP server's connection: a persistent session, owned by one task, reconnected when it dies.

Per process, each server has one :class:`MCPConnection`, shared by every agent and turn. Its
*generations* follow one another: a generation is one transport and one ``mcp`` client session,
opened, held and closed by one task (anyio requires a task group's, and so a session's, context to
be entered and left in the same task), which also lists the server's tools once and keeps the list
while the session lives: a ``notifications/tools/list_changed`` (on 2026-era servers, through a
``subscriptions/listen`` stream) refreshes it, and a new generation lists them again. Nothing lists
tools per turn or per call.

A generation dies when its transport ends (a stdio server exited, an HTTP server went away) or a
call learns the server forgot the session ("Session terminated" after a restart); an owner task then
opens the next one with exponential backoff. A call that failed because of that is sent once more on
the next generation when that is safe: it never reached the server (the server was unreachable, or
refused the old session), or the tool says it is read-only or idempotent. Otherwise, and for a
timeout or a refusal, the call ends with a :class:`CallFailure` that the model is shown.

Everything here runs on the :class:`~aixgo.agents.tools.mcp.hub.MCPHub` 's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import random
import re
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anyio
import httpx2
import mcp.types as mt
from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types.jsonrpc import CONNECTION_CLOSED
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from aixgo.agents.tools.mcp.spec import MCPServerSpec
from aixgo.agents.tools.mcp.stderr import StderrTail
from aixgo.errors import ToolServerError
from aixgo.logs import get_logger
from aixgo.redaction import mask_secrets

log = get_logger("aixgo.mcp")

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 30.0
QUICK_DEATH = 2.0
"""Seconds: a session that ended sooner counts as a failed attempt (no tight reconnect loop)."""
TEARDOWN_WAIT = 5.0
"""Seconds a closing generation gets to leave its session cleanly before it is cancelled."""
LIST_PAGES_MAX = 100

_SESSION_LOST = re.compile(
    r"session terminated|session not found|no valid session|server not initialized|unknown session", re.I
)


T = TypeVar("T")


class Loop(Protocol):
    """Where connections run (the hub: :class:`~aixgo.agents.tools.mcp.hub.MCPHub`)."""

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T: ...

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T: ...


@dataclass(frozen=True, slots=True)
class CallFailure:
    """A tool call that produced no result: ``kind`` is ``timeout``, ``stopped`` (the server went away
    while the call ran), ``unavailable`` (it could not be reached), ``refused`` (a protocol error) or
    ``invalid`` (its result broke the protocol); ``message`` is what the model is told."""

    kind: str
    message: str


class _Generation:
    """One transport and session, and what became of it."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.client: Client | None = None
        self.ready = asyncio.Event()
        self.dead = asyncio.Event()
        self.gone = asyncio.Event()
        self.tools_changed = asyncio.Event()
        self.reason = ""
        self.cause: BaseException | None = None
        self.stderr: StderrTail | None = None
        self.http_status: int | None = None

    def kill(self, reason: str) -> None:
        if not self.dead.is_set():
            self.reason = reason
            self.dead.set()

    async def on_message(self, message: Any) -> None:
        if isinstance(message, mt.ToolListChangedNotification):
            self.tools_changed.set()
        elif isinstance(message, Exception):
            log.warning("mcp.server.bad_message", error=f"{type(message).__name__}: {message}"[:300])

    def unreachable(self) -> bool:
        """Whether the generation ended because the server could not be reached at all (then no
        request of it was delivered)."""
        leaves = list(_leaves(self.cause)) if self.cause is not None else []
        return bool(leaves) and all(isinstance(exc, httpx2.ConnectError | ConnectionRefusedError) for exc in leaves)

    def last_stderr(self) -> str:
        lines = self.stderr.tail() if self.stderr is not None else []
        return lines[-1] if lines else ""

    async def last_words(self) -> str:
        """:meth:`last_stderr` once the pipe is read to its end (up to 1 s) when the process exited:
        what it said as it died is read after its exit is noticed."""
        if self.stderr is None:
            return ""
        lines = await self.stderr.atail(1.0 if _describe_end(self) == "its process exited" else 0.0)
        return lines[-1] if lines else ""


class MCPConnection:
    """The connection to one server (see the module docstring). Get it from the hub
    (:meth:`~aixgo.agents.tools.mcp.hub.MCPHub.acquire`).

    :meth:`start`, :meth:`call` and :meth:`start_blocking` may be used from any event loop or
    thread; they run on the hub's loop."""

    def __init__(self, spec: MCPServerSpec, hub: Loop) -> None:
        self.spec = spec
        self.hub = hub
        self.tools: tuple[mt.Tool, ...] = ()
        """The server's tools as last listed (replaced whole, never changed in place)."""
        self.version = 0
        """Counts the changes of :attr:`tools`."""
        self.list_requests = 0
        """``tools/list`` requests sent (pages counted once per listing)."""
        self.generations = 0
        self.failed_attempts = 0
        self.last_failure: str | None = None
        """Why the last attempt to connect failed (None once connected)."""
        self._live: _Generation | None = None
        self._opening: tuple[_Generation, asyncio.Task[None]] | None = None
        self._owner: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._closing = False
        self._close_requested = asyncio.Event()

    # -- state ------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a session is open now."""
        return self._live is not None and not self._live.dead.is_set()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _publish(self, tools: tuple[mt.Tool, ...]) -> None:
        if tools != self.tools:
            self.tools = tools
            self.version += 1

    # -- connecting -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect now (if not connected) and wait until the tools are listed.

        Raises:
            ToolServerError: the server cannot be started or reached (the message says why, with
                the last lines of its stderr); it is retried in the background with backoff.
        """
        await self.hub.arun(self._start())

    def start_blocking(self) -> None:
        """:meth:`start` for synchronous code (not on an event loop: it blocks)."""
        self.hub.run(self._start())

    async def _start(self) -> None:
        generation = await self._await_live(self.spec.connect_timeout + TEARDOWN_WAIT, fail_fast=True)
        if generation is None:
            raise ToolServerError(self.last_failure or f"MCP server {self.spec.name!r} did not start",
                                  server=self.spec.name)

    def _ensure_owner(self) -> None:
        if self._owner is None and not self._closing:
            self._owner = asyncio.ensure_future(self._own())

    async def _await_live(self, timeout: float, *, fail_fast: bool = False) -> _Generation | None:
        """The live generation, waiting up to ``timeout`` for one (``fail_fast``: until the next
        failed attempt). None if there is none by then."""
        self._ensure_owner()
        failed_before = self.failed_attempts
        with anyio.move_on_after(timeout):
            while not self._closing:
                live = self._live
                if live is not None and not live.dead.is_set():
                    return live
                if fail_fast and self.failed_attempts > failed_before:
                    return None
                await self._changed.wait()
        return None

    async def _own(self) -> None:
        """Open generation after generation until the connection is closed: at once after a session
        that lived a while, with backoff after failed attempts and sessions that died at once."""
        failures = 0
        loop = asyncio.get_running_loop()
        while not self._closing:
            self.generations += 1
            generation = _Generation(self.generations)
            task = asyncio.ensure_future(self._hold(generation))
            self._opening = (generation, task)
            ready = asyncio.ensure_future(generation.ready.wait())
            try:
                await asyncio.wait({task, ready}, timeout=self.spec.connect_timeout,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                ready.cancel()
                self._opening = None
            if generation.ready.is_set() and not task.done():
                started = loop.time()
                self.last_failure = None
                self._live = generation
                self._notify()
                log.info("mcp.connected", server=self.spec.name, generation=generation.number,
                         tools=len(self.tools))
                await asyncio.wait({task})
                if self._live is generation:
                    self._live = None
                self._notify()
                if self._closing:
                    break
                log.warning("mcp.disconnected", server=self.spec.name, generation=generation.number,
                            reason=_describe_end(generation), stderr=generation.last_stderr() or None)
                failures = 0 if loop.time() - started > QUICK_DEATH else failures + 1
                if not failures:
                    continue  # reconnect at once: the server was up a moment ago
            else:
                timed_out = not task.done()
                await _stop(task)
                if self._closing:
                    break
                failures += 1
                self.failed_attempts += 1
                self.last_failure = _startup_failure(self.spec, generation, timed_out)
                self._notify()
                log.warning("mcp.connect_failed", server=self.spec.name, attempt=failures,
                            error=self.last_failure.splitlines()[0])
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1)) * random.uniform(1.0, 1.25)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._close_requested.wait(), delay)

    async def _hold(self, generation: _Generation) -> None:
        """Open one generation, list the tools, watch for changes, and hold it until it dies or the
        connection closes; every context is entered and left in this one task."""
        spec = self.spec
        if spec.transport == "stdio":
            generation.stderr = StderrTail(spec.name)
        try:
            async with contextlib.AsyncExitStack() as stack:
                transport = await self._transport(stack, generation)
                client = Client(transport, message_handler=generation.on_message, cache=None,
                                client_info=mt.Implementation(name="aixgo", version=_version()))
                await stack.enter_async_context(client)
                if generation.stderr is not None:
                    generation.stderr.close_writer()
                generation.client = client
                self._publish(await self._list_tools(client))
                watchers = await stack.enter_async_context(anyio.create_task_group())
                watchers.start_soon(self._refresh_on_change, generation, client)
                capabilities = client.server_capabilities.tools
                if client.protocol_version in MODERN_PROTOCOL_VERSIONS and capabilities and capabilities.list_changed:
                    watchers.start_soon(self._listen, generation, client)
                generation.ready.set()
                await generation.dead.wait()
                watchers.cancel_scope.cancel()
        except Exception as exc:
            generation.cause = exc
        finally:
            if generation.stderr is not None:
                generation.stderr.close_writer()
            generation.kill(generation.reason or "closed")
            generation.gone.set()

    async def _transport(self, stack: contextlib.AsyncExitStack, generation: _Generation) -> Any:
        spec = self.spec
        if spec.transport == "stdio":
            assert generation.stderr is not None
            params = StdioServerParameters(command=spec.command or "", args=list(spec.args),
                                           env=dict(spec.env) or None, cwd=spec.cwd)
            return _watched(stdio_client(params, errlog=generation.stderr.writer), generation)

        async def remember_status(response: httpx2.Response) -> None:
            if response.status_code >= 400:
                generation.http_status = response.status_code

        http = await stack.enter_async_context(httpx2.AsyncClient(
            headers=dict(spec.headers),
            timeout=httpx2.Timeout(spec.connect_timeout, read=max(300.0, spec.call_timeout)),
            event_hooks={"request": [_trace_headers], "response": [remember_status]},
        ))
        return _watched(streamable_http_client(spec.url or "", http_client=http), generation)

    async def _list_tools(self, client: Client) -> tuple[mt.Tool, ...]:
        tools: list[mt.Tool] = []
        cursor: str | None = None
        self.list_requests += 1
        for _ in range(LIST_PAGES_MAX):
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        return tuple(tools)

    async def _refresh_on_change(self, generation: _Generation, client: Client) -> None:
        """List the tools again each time the server says they changed (several notices that arrive
        during one listing cause one more listing, not several)."""
        while True:
            await generation.tools_changed.wait()
            generation.tools_changed.clear()
            try:
                tools = await self._list_tools(client)
            except (MCPError, anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
                log.warning("mcp.tools.refresh_failed", server=self.spec.name, error=str(exc)[:300])
                continue
            before = {tool.name for tool in self.tools}
            self._publish(tools)
            log.info("mcp.tools.changed", server=self.spec.name, tools=len(tools),
                     added=sorted({tool.name for tool in tools} - before) or None,
                     removed=sorted(before - {tool.name for tool in tools}) or None)

    async def _listen(self, generation: _Generation, client: Client) -> None:
        """Keep a ``subscriptions/listen`` stream open (2026-era servers send list changes only there;
        its events reach :meth:`_Generation.on_message`); opened again, with the tools listed again,
        if the server ends it while the session lives."""
        delay = BACKOFF_FIRST
        while not generation.dead.is_set():
            try:
                async with client.listen(tools_list_changed=True) as subscription:
                    delay = BACKOFF_FIRST
                    async for _ in subscription:
                        pass
            except Exception as exc:
                log.debug("mcp.listen.ended", server=self.spec.name, error=f"{type(exc).__name__}: {exc}"[:300])
            await anyio.sleep(delay)
            delay = min(BACKOFF_MAX, delay * 2)
            generation.tools_changed.set()  # changes made while no stream was open were missed

    # -- calling ----------------------------------------------------------------------------------

    async def call(
        self, name: str, arguments: dict[str, Any], *, retry_safe: bool = False, trace: Mapping[str, str] | None = None
    ) -> mt.CallToolResult | CallFailure:
        """Call the server's tool ``name`` within the spec's ``call_timeout``.

        ``retry_safe``: the tool says it is read-only or idempotent, so a call cut off by the server's
        end may be sent again. ``trace``: W3C trace context (``traceparent``, ``tracestate``) the call
        carries in its ``_meta``, and over HTTP in its request headers too. Never raises for the
        server's failures (see :class:`CallFailure`)."""
        return await self.hub.arun(self._call(name, arguments, retry_safe, dict(trace) if trace else None))

    async def _call(
        self, name: str, arguments: dict[str, Any], retry_safe: bool, meta: dict[str, Any] | None
    ) -> mt.CallToolResult | CallFailure:
        spec = self.spec
        deadline = anyio.current_time() + spec.call_timeout
        retried = False
        while True:
            remaining = deadline - anyio.current_time()
            generation = await self._await_live(max(0.0, min(remaining, spec.connect_timeout)))
            if generation is None or generation.client is None:
                reason = self.last_failure or "it is still starting"
                return CallFailure("unavailable", f"the MCP server {spec.name!r} is not available, so {name} did "
                                   f"not run ({_first_line(reason)}); aixgo keeps trying to reconnect")
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    return await generation.client.call_tool(name, arguments, meta=meta)  # type: ignore[arg-type]
            except TimeoutError:
                return CallFailure("timeout", f"the MCP server {spec.name!r} did not answer {name} within "
                                   f"{spec.call_timeout:g} s; the call may still be running there")
            except MCPError as exc:
                lost = _lost(exc)
                if lost is None:
                    return CallFailure("refused", f"the MCP server {spec.name!r} refused the call to {name}: "
                                       f"{exc.error.message} (code {exc.error.code})")
                generation.kill(lost)
                delivered = lost != "session" and not await _unreachable(generation)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
                generation.kill(f"transport closed ({type(exc).__name__})")
                delivered = not await _unreachable(generation)
            except (RuntimeError, ValueError) as exc:  # a result that breaks its output schema or the protocol
                return CallFailure("invalid", f"the MCP server {spec.name!r} answered {name} with a result "
                                   f"aixgo cannot use: {exc}"[:1000])
            if retried or (delivered and not retry_safe):
                stderr = await generation.last_words()
                said = f"; its last words on stderr: {stderr!r}" if stderr else ""
                return CallFailure("stopped", f"the MCP server {spec.name!r} stopped while {name} was running "
                                   f"({_describe_end(generation)}{said}), so it may or may not have done its "
                                   "work; aixgo is reconnecting: check before calling it again")
            retried = True
            log.info("mcp.call.retry", server=spec.name, tool=name,
                     why="never delivered" if not delivered else "read-only or idempotent tool")

    # -- closing ----------------------------------------------------------------------------------

    async def close(self) -> None:
        """End the session (a stdio server's stdin is closed, then it is stopped) and stop reconnecting."""
        self._closing = True
        self._close_requested.set()
        live = self._live
        if live is not None:
            live.kill("closed")
        if self._opening is not None:  # still in its handshake: nothing to leave cleanly yet
            await _stop(self._opening[1])
        self._notify()
        owner = self._owner
        if owner is not None:
            done, _ = await asyncio.wait({owner}, timeout=TEARDOWN_WAIT + 5)
            if not done:
                await _stop(owner)


@contextlib.asynccontextmanager
async def _watched(transport: Any, generation: _Generation) -> AsyncIterator[tuple[Any, Any]]:
    """``transport``'s streams, with the read stream relayed so that its end (the server's stdout
    closed, the HTTP transport gone) kills ``generation`` at once, not at the next call."""
    async with transport as (read, write):
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def relay() -> None:
            try:
                async with send:
                    async for item in read:
                        await send.send(item)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass
            finally:
                generation.kill(generation.reason or "the server closed the connection")

        async with anyio.create_task_group() as relays:
            relays.start_soon(relay)
            try:
                yield receive, write
            finally:
                relays.cancel_scope.cancel()


def _version() -> str:
    """aixgo's version, as the client tells servers who it is."""
    try:
        return importlib.metadata.version("aixgo")
    except importlib.metadata.PackageNotFoundError:
        return "0"


async def _stop(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has unwound."""
    task.cancel()
    with contextlib.suppress(BaseException):
        await task


async def _unreachable(generation: _Generation) -> bool:
    """Whether the dead ``generation`` ended because the server could not be reached (waits briefly
    for its task to say why)."""
    with anyio.move_on_after(TEARDOWN_WAIT):
        await generation.gone.wait()
    return generation.unreachable()


def _lost(exc: MCPError) -> str | None:
    """Why a call's error means the session is gone (None: the server answered with an error)."""
    message = exc.error.message or ""
    if exc.error.code == CONNECTION_CLOSED and "closed" in message.lower():
        return "connection closed"
    if _SESSION_LOST.search(message):
        return "session"
    return None


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


def _describe_end(generation: _Generation) -> str:
    """Why a generation ended, in words."""
    if generation.unreachable():
        return "the server could not be reached"
    if generation.reason == "session":
        return "the server no longer knew the session: it was restarted"
    if generation.cause is not None:
        leaf = next(_leaves(generation.cause))
        return f"{type(leaf).__name__}: {mask_secrets(str(leaf))}"[:300]
    if generation.stderr is not None:
        return "its process exited"
    return generation.reason or "the connection closed"


def _startup_failure(spec: MCPServerSpec, generation: _Generation, timed_out: bool) -> str:
    """Why a server could not be started or reached, with the last lines of its stderr."""
    leaf = next(_leaves(generation.cause), None) if generation.cause is not None else None
    name, where = spec.name, spec.where
    if timed_out:
        text = f"MCP server {name!r} ({where}) did not answer within {spec.connect_timeout:g} s of starting"
    elif isinstance(leaf, FileNotFoundError) and spec.transport == "stdio":
        text = f"cannot start MCP server {name!r}: command {spec.command!r} not found (is it installed and on PATH?)"
    elif isinstance(leaf, PermissionError) and spec.transport == "stdio":
        text = f"cannot start MCP server {name!r}: command {spec.command!r} is not executable"
    elif generation.unreachable():
        text = f"MCP server {name!r} at {where} is not reachable: connection refused"
    elif generation.http_status is not None:
        hint = " (check its auth or headers)" if generation.http_status in (401, 403) else ""
        text = f"MCP server {name!r} at {where} answered HTTP {generation.http_status}{hint}"
    elif spec.transport == "stdio" and (leaf is None or isinstance(leaf, MCPError)):
        text = f"MCP server {name!r} ({where}) exited during startup"
    else:
        detail = f"{type(leaf).__name__}: {mask_secrets(str(leaf))}" if leaf is not None else "unknown error"
        text = f"MCP server {name!r} ({where}) failed to start: {detail}"[:1000]
    lines = generation.stderr.tail(wait=1.0) if generation.stderr is not None else []
    if lines:
        text += "\n  its stderr ends with:\n" + "\n".join(f"    {line}" for line in lines[-10:])
    return text



TRACE_KEYS = ("traceparent", "tracestate")


async def _trace_headers(request: httpx2.Request) -> None:
    """The trace context a tool call carries in its ``_meta`` (MCP's way, on every transport) goes in
    the HTTP request's headers too, where proxies and HTTP-instrumented servers look for it."""
    body = request.content
    if b'"traceparent"' not in body:
        return
    try:
        meta = json.loads(body).get("params", {}).get("_meta", {})
    except (ValueError, AttributeError):
        return
    for key in TRACE_KEYS:
        if isinstance(meta.get(key), str):
            request.headers[key] = meta[key]


__all__ = ["CallFailure", "MCPConnection"]
