"""``aixgo serve CONFIG``: the agents of CONFIG behind an OpenAI-compatible HTTP API (uvicorn), with the
web console at ``/ui``; ``aixgo ui CONFIG``: the same on this machine only, with the console opened in a
browser.

Bearer keys come from ``AIXGO_API_KEY`` (comma-separated, admin keys) and ``server.api_keys``; listening on
an address other than loopback without any is refused. SIGTERM / Ctrl-C stops accepting requests and
lets running turns finish (releasing their leases) before the process exits.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import signal
import socket
import threading
import time
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

import click

from aixgo.cli.app import CliState
from aixgo.config.model import ApiKey
from aixgo.errors import AixgoError, MissingDependencyError

if TYPE_CHECKING:
    from aixgo.observability import Telemetry
    from aixgo.runtime import Runtime

API_KEY_ENV = "AIXGO_API_KEY"
ACCESS_LOGGER = "aixgo.server"
"""The logger of the access lines (and the server's own warnings): the only one at ``info`` by default."""
GRACEFUL_SECONDS = 30
KEEP_ALIVE_SECONDS = 75
"""Idle seconds a client connection stays open: above the idle timeouts of common proxies and load
balancers (nginx and AWS ALB: 60 s), so they never reuse a connection the server has just closed
(uvicorn's own default, 5 s, gives them resets and 502s under load)."""


def _loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--keep-alive", default=KEEP_ALIVE_SECONDS, show_default=True, type=click.IntRange(1, 3600),
              help="Seconds an idle client connection stays open; keep it above your proxy's idle timeout.")
@click.pass_context
def serve(ctx: click.Context, config: Path, host: str, port: int, keep_alive: int) -> None:
    """Serve the agents of CONFIG over HTTP: an OpenAI-compatible API and a sessions API."""
    _serve(ctx, config, host, port, keep_alive)


@click.command("ui")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--port", default=0, show_default="a free port", type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--browser/--no-browser", default=True, show_default=True,
              help="Open the console in the default browser ($BROWSER) once the server answers.")
@click.pass_context
def ui(ctx: click.Context, config: Path, port: int, browser: bool) -> None:
    """Open the web console for CONFIG: `aixgo serve` on 127.0.0.1 only, and the console in a browser.

    The console lists, searches and shows the sessions of CONFIG's store, restores, forks and exports
    them, and chats with its agents. Ctrl-C stops it."""
    port = port or _free_port()
    url = f"http://127.0.0.1:{port}/ui"
    click.echo(f"aixgo ui: the console is at {url}", err=True)
    if browser:
        threading.Thread(target=_open_when_up, args=(port, url), name="aixgo-ui-browser", daemon=True).start()
    _serve(ctx, config, "127.0.0.1", port, KEEP_ALIVE_SECONDS)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _open_when_up(port: int, url: str) -> None:
    """Open ``url`` in the browser once the server accepts connections (for up to a minute)."""
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    else:
        return
    if not webbrowser.open(url):
        click.echo(f"aixgo ui: no browser could be opened; open {url}", err=True)


class ListenError(AixgoError):
    """The address to serve on cannot be taken (in use, not this machine's, a port that needs root)."""


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (as uvicorn binds one), taken before anything is printed, so a busy
    port is one line and exit 1 rather than a banner followed by uvicorn's error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            reason = "the address is already in use (another aixgo serve?); stop it, or choose another --port"
        elif exc.errno == errno.EACCES:
            reason = "permission denied (ports below 1024 need privileges); choose another --port"
        else:
            reason = f"{exc.strerror or exc}; check --host"
        raise ListenError(f"cannot listen on {where}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def _configure_logs(state: CliState) -> None:
    """By default a server logs one access line per request: ``aixgo.server`` at info, the rest of aixgo at
    warning; ``--log-level`` sets every aixgo logger alike."""
    import logging  # noqa: PLC0415

    from aixgo.logs import configure_logging  # noqa: PLC0415

    if state.log_level == "critical":  # the default
        configure_logging("warning", json=state.log_json)
        logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO)


def _serve(ctx: click.Context, config: Path, host: str, port: int, keep_alive: int) -> None:
    try:
        import uvicorn  # noqa: PLC0415 - the server extra, only for this command

        from aixgo.server import create_app  # noqa: PLC0415
        from aixgo.server.protocol import bounded_protocol  # noqa: PLC0415
    except ImportError:
        raise MissingDependencyError("aixgo serve", "server") from None
    from aixgo.runtime import Runtime  # noqa: PLC0415

    _configure_logs(ctx.obj if isinstance(ctx.obj, CliState) else CliState())
    from aixgo.agents.tools.mcp.hub import mcp_hub  # noqa: PLC0415

    loop = _new_loop()  # the one loop requests, turns and MCP sessions run on
    mcp_hub().use_loop(loop)
    runtime = Runtime.from_config(config)
    assert runtime.config is not None
    if not runtime.agent_names:
        _close(loop, runtime)
        raise click.UsageError("the config declares no agents")
    keys = [ApiKey(key.strip()) for key in os.environ.get(API_KEY_ENV, "").split(",") if key.strip()]
    keys += list(runtime.config.server.api_keys)
    if not keys and not _loopback(host):
        _close(loop, runtime)
        raise click.UsageError(
            f"refusing to listen on {host} without API keys: set {API_KEY_ENV} (comma-separated) or "
            "server.api_keys in the config, or listen on 127.0.0.1 behind a proxy that authenticates"
        )
    app = create_app(runtime, api_keys=keys, max_request_bytes=runtime.config.server.max_request_kb * 1024)
    try:
        sock = _listen(host, port)
    except ListenError:
        _close(loop, runtime)
        raise
    port = int(sock.getsockname()[1])  # the port the system chose for --port 0
    click.echo(
        f"aixgo serve: agents {', '.join(runtime.agent_names)} on http://{host}:{port}/v1, the console on "
        f"http://{host}:{port}/ui ({'API keys required' if keys else 'no API key: loopback only'})",
        err=True,
    )
    server = runtime.config.server
    if runtime.telemetry is not None:
        _flush_before_terminating(runtime.telemetry)
    settings = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=GRACEFUL_SECONDS,
        timeout_keep_alive=keep_alive, lifespan="off", http=bounded_protocol(server.header_timeout),
        limit_concurrency=server.max_connections,
    )
    try:
        loop.run_until_complete(uvicorn.Server(settings).serve(sockets=[sock]))
    except KeyboardInterrupt:  # a second Ctrl-C during the graceful shutdown
        pass
    finally:
        sock.close()
        _close(loop, runtime)


def _close(loop: asyncio.AbstractEventLoop, runtime: Runtime) -> None:
    """Close ``runtime`` while its serving loop runs (its MCP sessions close on it), then the loop."""
    try:
        loop.run_until_complete(asyncio.to_thread(runtime.close))
    finally:
        loop.close()


def _flush_before_terminating(telemetry: Telemetry) -> None:
    """uvicorn ends a graceful SIGTERM shutdown by raising SIGTERM again, which kills the process
    before exit handlers run: export the buffered spans and measurements first, then terminate."""

    def flush_then_terminate(signum: int, frame: object) -> None:
        telemetry.flush()
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    signal.signal(signal.SIGTERM, flush_then_terminate)


def _new_loop() -> asyncio.AbstractEventLoop:
    """The serving loop: uvloop's when it is installed (the server extra), as uvicorn itself would pick."""
    try:
        import uvloop  # noqa: PLC0415 - the server extra, only for this command
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
