"""The per-session turn lease of the PostgreSQL store.

A lease is a row of ``leases`` (session key, random token, expiry on the server's clock), taken with
one ``INSERT … ON CONFLICT DO UPDATE … WHERE expired`` statement. Only the holder of the token may
extend it or release it (both compare the token), so a holder whose lease expired and was taken over
can never extend or free the new holder's lease. A crashed holder blocks others for at most ``ttl``.
"""

from __future__ import annotations

import secrets

from aixgo.errors import SessionBusyError, SessionNotFoundError, StoreClosedError
from aixgo.logs import get_logger
from aixgo.session.postgres.engine import Engine, Op, Query

log = get_logger("aixgo.session.postgres")


def _ttl_ms(ttl: float) -> int:
    if not ttl > 0:
        raise ValueError(f"a lease ttl must be > 0 seconds, got {ttl!r}")
    return max(1, round(ttl * 1000))


class PostgresLease:
    """A held turn lease on one session (see :class:`aixgo.session.backend.Lease`), with awaitable twins
    (``aextend``, ``arelease``) that run on the event loop's own connections."""

    def __init__(self, engine: Engine, session_id: str, token: str, ttl: float) -> None:
        self.token = token
        self.ttl = ttl
        self.session_id = session_id
        self._engine = engine

    def __repr__(self) -> str:
        return f"PostgresLease(session_id={self.session_id!r}, ttl={self.ttl})"

    def _extend(self, ttl: float | None) -> Op[None]:
        params = {"sid": self.session_id, "token": self.token, "ttl_ms": _ttl_ms(self.ttl if ttl is None else ttl)}
        rows = yield Query(self._engine.statements["lease_extend"], params)
        if not rows:
            raise SessionBusyError(
                f"the turn lease on session {self.session_id!r} was lost (expired or released)",
                session_id=self.session_id,
            )
        if ttl is not None:
            self.ttl = ttl

    def extend(self, ttl: float | None = None) -> None:
        """Push the expiry out to ``ttl`` seconds from now (default: the ttl it was taken with).

        Raises :class:`~aixgo.errors.SessionBusyError` if the lease expired or was released."""
        self._engine.run(self._extend(ttl))

    async def aextend(self, ttl: float | None = None) -> None:
        """Awaitable :meth:`extend`."""
        await self._engine.arun(self._extend(ttl))

    def _release(self) -> Op[None]:
        yield Query(self._engine.statements["lease_release"], {"sid": self.session_id, "token": self.token})

    def release(self) -> None:
        """Give the lease up. Releasing twice, or after expiry, never frees another holder's lease.

        After the store was closed this does nothing: the lease then simply expires after its ttl."""
        try:
            self._engine.run(self._release())
        except StoreClosedError:
            log.warning("session.lease.release_after_close", session_id=self.session_id)

    async def arelease(self) -> None:
        """Awaitable :meth:`release`."""
        try:
            await self._engine.arun(self._release())
        except StoreClosedError:
            log.warning("session.lease.release_after_close", session_id=self.session_id)

    def __enter__(self) -> PostgresLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    async def __aenter__(self) -> PostgresLease:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.arelease()


def acquire(engine: Engine, session_id: str, ttl: float) -> Op[PostgresLease | None]:
    """The operation that takes the lease if no one holds it (one statement), else None at once;
    waiting is the caller's (:mod:`aixgo.session.leases`)."""
    token = secrets.token_hex(16)
    rows = yield Query(engine.statements["lease_acquire"], {"sid": session_id, "token": token, "ttl_ms": _ttl_ms(ttl)})
    exists, taken = rows[0]
    if not exists:
        raise SessionNotFoundError(f"session {session_id!r} not found", session_id=session_id)
    return PostgresLease(engine, session_id, token, ttl) if taken else None
