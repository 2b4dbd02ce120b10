"""Who a request is: the API key it carries (``Authorization: Bearer``, or the console's cookie) and what
that key may see.

A key names a ``user`` and a ``role``. An ``admin`` key sees and changes every session; a ``user`` key
only the sessions of its user (another user's session is answered as if it did not exist: 404), and a
request made with it cannot act for another user. A server without keys (loopback only) treats every
request as an admin's. Keys are compared in constant time and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from aixgo.config.model import ApiKey
from aixgo.server.errors import BadRequest


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request: the user it acts as, whether it is an admin, and how it signed in."""

    user: str | None
    admin: bool
    key: ApiKey | None = None
    cookie: bool = False
    """Signed in with the console's cookie (its changes need the CSRF token)."""

    def may_see(self, owner: str | None) -> bool:
        """Whether this principal may see (and change) a session of user ``owner``."""
        return self.admin or (self.user is not None and owner == self.user)

    def acting_user(self, claimed: str | None) -> str | None:
        """The user a request acts for: ``claimed`` (a request's ``user``) if this principal may claim it,
        else its own; a user key claiming another user is refused (403)."""
        if self.admin:
            return claimed
        if claimed is not None and claimed != self.user:
            raise BadRequest(403, "this API key acts for its own user only: 'user' names another user",
                             param="user")
        return self.user

    def list_filter(self, claimed: str | None) -> str | None:
        """The user whose sessions a listing shows (see :meth:`acting_user`)."""
        return self.acting_user(claimed)

    @property
    def csrf_token(self) -> str:
        """The token the console sends with every change (derived from the key: nothing to store)."""
        return csrf_token(self.key.key if self.key is not None else "")


ANONYMOUS = Principal(user=None, admin=True)
"""Every request of a server without keys (it listens on loopback only)."""


def csrf_token(key: str) -> str:
    """The console's CSRF token for a key: an HMAC of it, so it is checked without any stored state."""
    return hmac.new(key.encode(), b"aixgo console csrf", hashlib.sha256).hexdigest()


class KeyRing:
    """The accepted keys."""

    def __init__(self, keys: Iterable[ApiKey | str]) -> None:
        self.keys = tuple(k if isinstance(k, ApiKey) else ApiKey(k) for k in keys if k)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def find(self, token: str) -> ApiKey | None:
        """The key ``token`` is, compared in constant time against every key."""
        given = token.strip().encode()
        found = None
        for key in self.keys:
            if hmac.compare_digest(given, key.key.encode()):
                found = key
        return found

    def principal(self, key: ApiKey, *, cookie: bool = False) -> Principal:
        """The principal of a request carrying ``key``."""
        return Principal(user=key.user, admin=key.role == "admin", key=key, cookie=cookie)


__all__ = ["ANONYMOUS", "ApiKey", "KeyRing", "Principal", "csrf_token"]
