"""Ids as users type them: the whole id, or a unique prefix of it, as git and docker take them.

Session ids are 36-character UUIDs unless chosen by hand; typing ``3f2c9a1e`` (or any unique start)
is enough. An exact id always wins; a prefix shared by several sessions or checkpoints is an error
that lists them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import click

from aixgo.errors import CheckpointNotFoundError, InvalidSessionIdError, SessionError, SessionNotFoundError
from aixgo.session.ids import validate_id
from aixgo.session.manager import Manager, Session
from aixgo.session.types import Checkpoint

SHOWN = 5
"""Candidates named in an "ambiguous prefix" error."""


class AmbiguousIdError(SessionError):
    """A prefix matches more than one session or checkpoint."""


def valid_id(what: str) -> Any:
    """A click callback that refuses ids :func:`~aixgo.session.ids.validate_id` refuses: a usage
    error (exit 2) in every command. Takes one value or a tuple of them."""

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        values = value if isinstance(value, tuple) else () if value is None else (value,)
        for item in values:
            try:
                validate_id(item, what)
            except InvalidSessionIdError as exc:
                raise click.BadParameter(str(exc), ctx, param) from None
        return value

    return check


_GENERATED = "hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh"
"""The shape of a generated session id (a UUID): ``h`` a hexadecimal digit."""


def looks_like_id_prefix(text: str) -> bool:
    """Whether ``text`` reads as the start of a generated id, as a person types it (at least 4 characters,
    hexadecimal digits and the dashes where a UUID has them, shorter than a whole id): ``3f2c9a``,
    ``3f2c9a1e-7``. Such a text that names no session is a mistyped prefix, not a new id."""
    if not 4 <= len(text) < len(_GENERATED):
        return False
    return all(c in "0123456789abcdefABCDEF" if shape == "h" else c == shape for c, shape in zip(text, _GENERATED, strict=False))


def _matches(prefix: str, ids: Iterable[str]) -> list[str]:
    return sorted({candidate for candidate in ids if candidate.startswith(prefix)})


def _ambiguous(what: str, prefix: str, found: Sequence[str]) -> AmbiguousIdError:
    names = ", ".join(found[:SHOWN]) + (f" and {len(found) - SHOWN} more" if len(found) > SHOWN else "")
    return AmbiguousIdError(f"{what} id prefix {prefix!r} is ambiguous: it matches {names}; type more of the id")


def find_session(manager: Manager, text: str, *, agent: str | None = None) -> Session | None:
    """The session whose id is ``text``, or starts with it (``agent``: only that agent's); None when
    none does. Raises :class:`AmbiguousIdError` for a prefix of several."""
    try:
        return resolve_session(manager, text, agent=agent)
    except SessionNotFoundError:
        return None


def resolve_session(manager: Manager, text: str, *, agent: str | None = None) -> Session:
    """:func:`find_session`, or the store's :class:`~aixgo.errors.SessionNotFoundError`."""
    try:
        return manager.get(text)
    except SessionNotFoundError as exc:
        found = _matches(text, (info.id for info in manager.list(agent=agent)))
        if len(found) > 1:
            raise _ambiguous("session", text, found) from None
        if not found:
            raise exc from None
        return manager.get(found[0])


def resolve_checkpoint(session: Session, text: str) -> Checkpoint:
    """The checkpoint of ``session`` whose id is ``text`` or starts with it."""
    checkpoints = {cp.id: cp for cp in session.checkpoints()}
    if text in checkpoints:
        return checkpoints[text]
    found = _matches(text, checkpoints)
    if len(found) > 1:
        raise _ambiguous("checkpoint", text, found)
    if not found:
        raise CheckpointNotFoundError(
            f"session {session.id!r} has no checkpoint {text!r}",
            session_id=session.id,
            checkpoint_id=text,
        )
    return checkpoints[found[0]]
