"""Validation and generation of session, agent, entry and checkpoint ids."""

from __future__ import annotations

import secrets
import unicodedata
import uuid

from aixgo.errors import InvalidSessionIdError

MAX_ID_BYTES = 128
"""The longest id, in UTF-8 bytes: a file name (id + suffix, or an import's temporary name) stays well
under the 255-byte limit of common file systems, and a Redis key stays short."""


def validate_id(value: object, what: str = "session id") -> str:
    """Return ``value`` if it is safe as a session or agent id, else raise :class:`InvalidSessionIdError`.

    A safe id is a non-empty string of at most 128 UTF-8 bytes (128 ASCII characters, 42 '€') with
    no ``/``, ``\\``, ``..``, NUL, control characters or leading dot, so it can never name a path
    outside the store or collide with another agent's files, on any store.
    """
    if not isinstance(value, str):
        raise InvalidSessionIdError(f"{what} must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidSessionIdError(f"{what} must not be empty")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_ID_BYTES:
        raise InvalidSessionIdError(
            f"{what} is {size} bytes long in UTF-8; the limit is {MAX_ID_BYTES} bytes",
            session_id=value[:40] + "…",
        )
    problem = _problem(value)
    if problem:
        raise InvalidSessionIdError(f"{what} {value!r} is not allowed: it {problem}", session_id=value)
    return value


def _problem(value: str) -> str | None:
    if "/" in value or "\\" in value:
        return "contains a path separator"
    if ".." in value:
        return "contains '..'"
    if value.startswith("."):
        return "starts with '.'"
    if value != value.strip():
        return "starts or ends with white space"
    if value.isascii() and value.isprintable():  # no control characters possible: skip the scan
        return None
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            return f"contains the control character U+{ord(char):04X}"
    return None


def new_session_id() -> str:
    """A fresh random session id (a UUID4 string)."""
    return str(uuid.uuid4())


def new_entry_id() -> str:
    """A fresh random entry id."""
    return "e_" + secrets.token_hex(8)


def new_checkpoint_id() -> str:
    """A fresh random checkpoint id."""
    return "cp_" + secrets.token_hex(6)
