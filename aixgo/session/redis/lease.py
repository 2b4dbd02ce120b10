"""The per-session turn lease of the Redis store.

A lease is the key ``<prefix>{<session>}:lease`` holding a random token, set with ``SET … NX PX
<ttl>``. Only the holder of the token may extend it (compare-and-extend) or release it
(compare-and-delete), both in Lua, so a holder whose lease expired and was taken over can never
extend or free the new holder's lease. A crashed holder blocks others for at most ``ttl``.

Fencing: a write carrying the token (``fence``) is done by its script only if the lease key holds
that token at that moment, so a turn whose lease expired while its process stalled cannot write
after the next holder's turn, however late it wakes up.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any

from aixgo.errors import SessionNotFoundError, StoreClosedError
from aixgo.logs import get_logger
from aixgo.session.leases import lease_lost
from aixgo.session.redis.scripts import SCRIPTS, LuaScript

RunScript = Callable[[LuaScript, Sequence[str], Sequence[str | int]], Any]
"""Runs a script (EVALSHA, EVAL on NOSCRIPT) and maps client errors to aixgo's."""

log = get_logger("aixgo.session.redis")


def _ttl_ms(ttl: float) -> int:
    if not ttl > 0:
        raise ValueError(f"a lease ttl must be > 0 seconds, got {ttl!r}")
    return max(1, round(ttl * 1000))


def _status(reply: Any) -> str:
    head = reply[0]
    return head.decode() if isinstance(head, bytes) else str(head)


class RedisLease:
    """A held turn lease on one session (see :class:`aixgo.session.backend.Lease`).

    Use it as a context manager, or call :meth:`release` when the turn ends."""

    def __init__(self, run: RunScript, lease_key: str, session_id: str, token: str, ttl: float) -> None:
        self.token = token
        self.ttl = ttl
        self.session_id = session_id
        self._run = run
        self._key = lease_key

    def __repr__(self) -> str:
        return f"RedisLease(session_id={self.session_id!r}, ttl={self.ttl})"

    def extend(self, ttl: float | None = None) -> None:
        """Push the expiry out to ``ttl`` seconds from now (default: the ttl it was taken with).

        Raises :class:`~aixgo.errors.LeaseLostError` if the lease expired (and maybe was taken by
        another holder) or was released."""
        ms = _ttl_ms(self.ttl if ttl is None else ttl)
        if not int(self._run(SCRIPTS["lease_extend"], [self._key], [self.token, ms])):
            raise lease_lost(self.session_id)
        if ttl is not None:
            self.ttl = ttl

    def release(self) -> None:
        """Give the lease up. Releasing twice, or after expiry, never frees another holder's lease.

        After the backend was closed this does nothing: the lease then simply expires after its ttl."""
        try:
            self._run(SCRIPTS["lease_release"], [self._key], [self.token])
        except StoreClosedError:
            log.warning("session.lease.release_after_close", key=self._key)

    def __enter__(self) -> RedisLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_acquire(
    run: RunScript, meta_key: str, lease_key: str, session_id: str, ttl: float
) -> RedisLease | None:
    """The lease if no one holds it (one ``SET NX PX``), else None at once; waiting is the caller's
    (:mod:`aixgo.session.leases`)."""
    token = secrets.token_hex(16)
    reply = run(SCRIPTS["lease_acquire"], [meta_key, lease_key], [token, _ttl_ms(ttl)])
    status = _status(reply)
    if status == "missing":
        raise SessionNotFoundError(f"session {session_id!r} not found", session_id=session_id)
    return RedisLease(run, lease_key, session_id, token, ttl) if status == "ok" else None
