"""The one exception tree of aixgo.

Every error the package raises on purpose derives from :class:`AixgoError`, so a caller can catch
the whole family in one ``except``. Errors carry the context needed to act on them (file, line,
session id, address) in attributes as well as in the message; context is always passed by keyword
(``SessionCorruptedError("bad record", session_id=..., path=..., line=...)``)::

    AixgoError
    ├── MissingDependencyError          an optional extra is not installed (says what to pip install)
    ├── ConfigError                     a config file is invalid (file:line:column, JSON path, hint)
    │   └── (aixgo.config.InterpolationError: a ${VAR} reference cannot be resolved)
    ├── SessionError                    anything about one session (carries ``session_id``)
    │   ├── InvalidSessionIdError       an id that could escape the store or is too long
    │   ├── InvalidEntryError           entry data or metadata that cannot be stored (not JSON, NaN, bad
    │   │                               message shape, nested too deeply, too large)
    │   ├── SessionNotFoundError
    │   ├── SessionExistsError
    │   ├── CheckpointNotFoundError
    │   ├── SessionCorruptedError       stored data cannot be read (carries ``path`` and ``line``)
    │   │   ├── ChecksumMismatchError   a checkpoint's history no longer matches its checksum
    │   │   └── UnsupportedVersionError data written by a newer aixgo
    │   ├── SessionBusyError            another holder has the session's turn lease
    │   │   └── LeaseLostError          a write through a lease that is no longer held was refused
    │   └── ApprovalError               about tool calls that wait for approval (carries ``call_ids``)
    │       ├── ApprovalPendingError    the session's turn waits for approval: no new turn until decided
    │       ├── ApprovalNotFoundError   no call of that id waits for approval in the session
    │       └── ApprovalDecidedError    the call was already approved or denied
    ├── StoreError                      the storage backend failed
    │   ├── StoreClosedError            the backend or manager was closed
    │   └── StoreConnectionError        the store cannot be reached (carries ``address``)
    ├── LLMError                        talking to the model failed
    │   ├── LLMConfigError              no API key / base URL, bad model settings
    │   ├── LLMRequestError             the server refused the request (400/401/403/404): fix and retry
    │   │   └── ContextWindowExceededError  the request does not fit the model's context window (``limit``)
    │   ├── LLMUnavailableError         429 / 5xx / timeout / connection error after all retries
    │   ├── LLMResponseError            the server answered something that cannot be used
    │   │   └── (aixgo.agents.TextFormatError: a text-format ReAct reply that follows no format)
    │   └── (aixgo.testing.ScriptExhaustedError: a ScriptedModel ran out of replies)
    └── AgentError                      the agent loop failed (carries ``agent``)
        ├── AgentNotFoundError
        ├── MaxStepsExceededError       the ReAct loop hit ``max_steps`` (the partial turn is persisted)
        ├── TurnStoppedError            a running turn was stopped (``Runtime.stop_turns``; recorded as cancelled)
        └── ToolError                   a tool is misconfigured (tool *exceptions* become observations)
            └── ToolServerError         an MCP server cannot be started or reached (carries ``server``)
"""

from __future__ import annotations

import os


class AixgoError(Exception):
    """Base class of every error raised by aixgo."""


class MissingDependencyError(AixgoError, ImportError):
    """An optional dependency is missing; the message says which extra to install."""

    def __init__(self, feature: str, extra: str) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(
            f"{feature} needs an optional dependency: in your aixgo checkout, pip install -e '.[{extra}]' "
            "(aixgo is not published on PyPI yet)"
        )


class ConfigError(AixgoError):
    """A configuration file is invalid.

    ``problems`` lists every problem found (each already formatted as ``file:line:column: ...``);
    the message joins them, so one run reports them all. ``warnings`` are the file's warnings, formatted
    alike (settings that do nothing, YAML's octal numbers), found in the same reading.
    """

    def __init__(
        self, message: str, *, problems: list[str] | None = None, path: str | None = None, warnings: list[str] | None = None
    ) -> None:
        self.problems = problems if problems is not None else [message]
        self.path = path
        self.warnings = warnings or []
        super().__init__(message)


class SessionError(AixgoError):
    """Something is wrong with one session."""

    def __init__(self, message: str, *, session_id: str | None = None) -> None:
        self.session_id = session_id
        super().__init__(message)


class InvalidSessionIdError(SessionError, ValueError):
    """A session or agent id is empty, too long, or contains path separators, ``..``, NUL or control
    characters."""


class InvalidEntryError(SessionError, ValueError):
    """Entry data (or session or checkpoint metadata) that cannot be stored: not a JSON object, NaN or
    Infinity, a chat message of the wrong shape (``tool_calls`` not a list, a tool result without
    ``tool_call_id``, …), nested deeper than ``MAX_JSON_DEPTH`` levels or larger than ``MAX_JSON_BYTES``."""


class SessionNotFoundError(SessionError, KeyError):
    """No session with that id exists."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class SessionExistsError(SessionError):
    """A session with that id already exists."""


class CheckpointNotFoundError(SessionError, KeyError):
    """The session has no checkpoint with that id."""

    def __init__(self, message: str, *, session_id: str | None = None, checkpoint_id: str | None = None) -> None:
        self.checkpoint_id = checkpoint_id
        super().__init__(message, session_id=session_id)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SessionCorruptedError(SessionError):
    """Stored session data cannot be read. ``path`` and ``line`` say where, when known."""

    def __init__(
        self,
        message: str,
        *,
        session_id: str | None = None,
        path: str | os.PathLike[str] | None = None,
        line: int | None = None,
    ) -> None:
        self.path = os.fspath(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(f"{where}{message}", session_id=session_id)


class ChecksumMismatchError(SessionCorruptedError):
    """A checkpoint's stored checksum does not match the history it points at (tampered or damaged)."""


class UnsupportedVersionError(SessionCorruptedError):
    """The data was written with a newer storage format than this aixgo understands."""


class SessionBusyError(SessionError):
    """Another caller holds the session's turn lease."""


class LeaseLostError(SessionBusyError):
    """A write made through a turn lease (:attr:`aixgo.session.HeldLease.session`) was refused because
    that lease is no longer held: it expired (and maybe another turn took it) or was released. The
    store checks the lease in the same atomic step as the write, so nothing was written. A runtime
    turn whose lease is lost (or cannot be renewed) ends with this error."""


class ApprovalError(SessionError):
    """About tool calls that wait for a person's approval (``require_approval``). ``call_ids`` names them."""

    def __init__(self, message: str, *, session_id: str | None = None, call_ids: tuple[str, ...] = ()) -> None:
        self.call_ids = call_ids
        super().__init__(message, session_id=session_id)


class ApprovalPendingError(ApprovalError):
    """The session's last turn paused for approval of tool calls (``call_ids``): a new turn is refused
    until each is approved or denied (the decision continues that turn)."""


class ApprovalNotFoundError(ApprovalError, KeyError):
    """No tool call of that id waits for approval in the session."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ApprovalDecidedError(ApprovalError):
    """The tool call was already approved or denied; a decision is taken once."""


class StoreError(AixgoError):
    """The storage backend failed."""


class StoreClosedError(StoreError):
    """The backend (or the manager using it) has been closed."""


class StoreConnectionError(StoreError, ConnectionError):
    """The store cannot be reached. ``address`` names it (never its password)."""

    def __init__(self, message: str, *, address: str | None = None) -> None:
        self.address = address
        super().__init__(message)


class LLMError(AixgoError):
    """Talking to the language model failed."""


class LLMConfigError(LLMError):
    """The model client is misconfigured (e.g. no API key and no base URL)."""


class LLMRequestError(LLMError):
    """The server rejected the request (400/401/403/404); retrying will not help."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class ContextWindowExceededError(LLMRequestError):
    """The request does not fit the model's context window; ``limit`` is its size in tokens and
    ``requested`` the size of the refused prompt, when the server said them."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        limit: int | None = None,
        requested: int | None = None,
    ) -> None:
        self.limit = limit
        self.requested = requested
        super().__init__(message, status_code=status_code)


class LLMUnavailableError(LLMError):
    """The server stayed unavailable (429, 5xx, timeouts, connection errors) after every retry."""

    def __init__(self, message: str, *, status_code: int | None = None, attempts: int | None = None) -> None:
        self.status_code = status_code
        self.attempts = attempts
        super().__init__(message)


class LLMResponseError(LLMError):
    """The server's answer cannot be used."""


class AgentError(AixgoError):
    """The agent loop failed."""

    def __init__(self, message: str, *, agent: str | None = None) -> None:
        self.agent = agent
        super().__init__(message)


class AgentNotFoundError(AgentError, KeyError):
    """No agent with that name is registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MaxStepsExceededError(AgentError):
    """The ReAct loop used ``max_steps`` steps without a final answer; the partial turn is persisted."""

    def __init__(self, message: str, *, agent: str | None = None, steps: int | None = None) -> None:
        self.steps = steps
        super().__init__(message, agent=agent)


class TurnStoppedError(AgentError):
    """A running turn was stopped on request (:meth:`aixgo.Runtime.stop_turns`, the web console's Stop) before
    it finished: what it stored so far is kept, and the turn is recorded as cancelled (never sent again)."""

    def __init__(self, message: str, *, agent: str | None = None, session_id: str | None = None) -> None:
        self.session_id = session_id
        super().__init__(message, agent=agent)


class ToolError(AgentError):
    """A tool is misconfigured (unknown name, bad ``module:function`` reference, bad signature)."""


class ToolServerError(ToolError):
    """An MCP server cannot be started or reached; the message says why (with the last lines of its
    stderr for a server started as a subprocess). A server that fails *during* a turn does not raise:
    the model is told, as a tool result."""

    def __init__(self, message: str, *, server: str | None = None, agent: str | None = None) -> None:
        self.server = server
        super().__init__(message, agent=agent)


__all__ = [
    "AgentError",
    "AgentNotFoundError",
    "AixgoError",
    "ApprovalDecidedError",
    "ApprovalError",
    "ApprovalNotFoundError",
    "ApprovalPendingError",
    "CheckpointNotFoundError",
    "ChecksumMismatchError",
    "ConfigError",
    "ContextWindowExceededError",
    "InvalidEntryError",
    "InvalidSessionIdError",
    "LLMConfigError",
    "LLMError",
    "LLMRequestError",
    "LLMResponseError",
    "LLMUnavailableError",
    "LeaseLostError",
    "MaxStepsExceededError",
    "MissingDependencyError",
    "SessionBusyError",
    "SessionCorruptedError",
    "SessionError",
    "SessionExistsError",
    "SessionNotFoundError",
    "StoreClosedError",
    "StoreConnectionError",
    "StoreError",
    "ToolError",
    "ToolServerError",
    "TurnStoppedError",
    "UnsupportedVersionError",
]
