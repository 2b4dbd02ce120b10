"""How to reach one MCP server: :class:`MCPServerSpec` (no I/O, no ``mcp`` import)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from aixgo.redaction import mask_secrets

Transport = Literal["stdio", "streamable_http"]
TRANSPORTS: tuple[str, ...] = ("stdio", "streamable_http")

DEFAULT_CALL_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 30.0
DEFAULT_MAX_IMAGE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True, repr=False)
class MCPServerSpec:
    """One MCP server: started as a subprocess (``stdio``) or reached over HTTP (``streamable_http``).

    Two specs that are equal share one connection per process. ``repr()`` never shows ``env`` or
    header values, nor credentials in the URL.

    Args:
        name: what the server is called in messages, ``aixgo tools`` and stored results.
        transport: ``stdio`` (``command``, ``args``, ``env``, ``cwd``) or ``streamable_http``
            (``url``, ``headers``).
        env: variables added to the few the server inherits (``HOME``, ``PATH``, ``USER`` …: the
            ``mcp`` SDK does not pass on the rest of the environment, so secrets are not leaked to it).
        call_timeout: seconds one tool call may take before the model is told it timed out.
        connect_timeout: seconds to start (or reach) the server and list its tools.
        max_result_chars: text of one result beyond this is cut (the model and the session are told).
        max_image_bytes: images and audio larger than this are not stored (the result says so).
    """

    name: str
    transport: Transport
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_result_chars: int | None = None
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES

    @classmethod
    def stdio(
        cls,
        name: str,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        **limits: Any,
    ) -> MCPServerSpec:
        """A server started as a subprocess and spoken to over its stdin and stdout."""
        return cls(name, "stdio", command=command, args=tuple(args), env=tuple(sorted((env or {}).items())),
                   cwd=cwd, **limits)

    @classmethod
    def http(cls, name: str, url: str, *, headers: Mapping[str, str] | None = None, **limits: Any) -> MCPServerSpec:
        """A server reached over MCP's Streamable HTTP transport at ``url`` (e.g. ``http://host:8000/mcp``)."""
        return cls(name, "streamable_http", url=url, headers=tuple(sorted((headers or {}).items())), **limits)

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(f"MCP server {self.name!r}: transport must be stdio or streamable_http, "
                             f"got {self.transport!r}")
        if self.transport == "stdio" and not self.command:
            raise ValueError(f"MCP server {self.name!r}: a stdio server needs a command")
        if self.transport == "streamable_http" and not self.url:
            raise ValueError(f"MCP server {self.name!r}: a streamable_http server needs a url")
        for label, value in (("call_timeout", self.call_timeout), ("connect_timeout", self.connect_timeout)):
            if not value > 0:
                raise ValueError(f"MCP server {self.name!r}: {label} must be a positive number of seconds")

    @property
    def where(self) -> str:
        """The server for people: ``stdio: python -m server`` or its URL, never a secret."""
        if self.transport == "stdio":
            shown = " ".join([self.command or "", *self.args])
            return f"stdio: {mask_secrets(shown if len(shown) <= 120 else shown[:117] + '...')}"
        return mask_secrets(self.url or "")

    def __repr__(self) -> str:
        return f"MCPServerSpec({self.name!r}, {self.where!r})"


class MCPServerConfigLike(Protocol):
    """An ``mcp_servers:`` entry of a config (:class:`aixgo.config.MCPServerConfig`)."""

    @property
    def name(self) -> str: ...
    @property
    def transport(self) -> str: ...
    @property
    def command(self) -> str | None: ...
    @property
    def args(self) -> Sequence[str]: ...
    @property
    def env(self) -> Mapping[str, str]: ...
    @property
    def cwd(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def timeout(self) -> float | None: ...
    @property
    def connect_timeout(self) -> float | None: ...
    @property
    def max_result_chars(self) -> int | None: ...
    @property
    def max_image_bytes(self) -> int | None: ...


def spec_from_config(server: MCPServerConfigLike, *, headers: Mapping[str, str] | None = None) -> MCPServerSpec:
    """The spec of a config's ``mcp_servers:`` entry; ``headers`` are its HTTP headers with the auth
    token already in them (:class:`~aixgo.agents.tools.toolbox.Toolbox` reads it)."""
    limits: dict[str, Any] = {}
    for key, value in (("call_timeout", server.timeout), ("connect_timeout", server.connect_timeout),
                       ("max_result_chars", server.max_result_chars), ("max_image_bytes", server.max_image_bytes)):
        if value is not None:
            limits[key] = value
    if server.transport == "stdio":
        return MCPServerSpec.stdio(server.name, server.command or "", server.args, env=dict(server.env),
                                   cwd=server.cwd, **limits)
    return MCPServerSpec.http(server.name, server.url or "", headers=headers or {}, **limits)


__all__ = ["TRANSPORTS", "MCPServerConfigLike", "MCPServerSpec", "Transport", "spec_from_config"]
