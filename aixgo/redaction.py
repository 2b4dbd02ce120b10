"""Keeping secrets out of everything aixgo prints or logs: the one redaction helper.

:func:`mask_secrets` masks URL credentials (``redis://:pw@host`` → ``redis://***@host``), the
values of keys that name a secret, or look like a misspelling of one (``pasword: …``), and what
follows an HTTP auth scheme (``Bearer abc`` → ``Bearer ***``).
:func:`mask_address` masks whatever precedes the last ``@`` of an address, so a password survives
no missing or mistyped scheme (``:pw@host``, ``redis:/:pw@host``, ``redis//:pw@host``).
"""

from __future__ import annotations

import difflib
import re

_SECRET_VALUE = re.compile(r"(?i)\b(api_keys?|password)(\s*:\s*)(?![\"']?\$\{)(\S.*)$")
_URL_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.-]*://)[^@\s/]*@", re.IGNORECASE)
# user:password@ without a (well-formed) scheme in front: ':pw@h', 'redis:/:pw@h', 'redis//:pw@h'
_LOOSE_CREDENTIALS = re.compile(r"(?<![\w*])[^\s'\"@*]*:[^\s'\"@*]*@")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_PARAM_PASSWORD = re.compile(r"(?i)\b(password=)(?![\"']?\$\{)[^&\s'\"]+")  # ?password=… in a URL, libpq's password=…
_AUTH_SCHEME_VALUE = re.compile(r"(?i)\b(bearer)(\s+)(?![\"']?\$\{)[^\s'\",}]+")
""" A credential after an HTTP auth scheme (``Authorization: Bearer abc`` → ``Bearer ***``)."""


_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_-]{6,}|(?:api[_-]?key|password|token|secret)\s*[=:]\s*[^\s,;)]+)", re.I)


def mask_text(text: str) -> str:
    """Free text (a server's error message, a captured prompt) with URL credentials and anything that
    looks like an API key, token or password masked: servers and users echo keys."""
    return _KEY_LIKE.sub("***", mask_secrets(text))


SECRET_KEYS = ("password", "api_key", "api_keys")
_KEY_VALUE = re.compile(r"^(\s*(?:-\s*)?)([A-Za-z_][\w-]*)(\s*:\s*)(?![\"']?\$\{)(\S.*)$")


def mask_secrets(line: str) -> str:
    """``line`` with API keys, passwords and URL credentials replaced by ``***``: the one redaction
    helper for anything aixgo prints or logs that may hold a secret (config lines, store addresses).
    A key that looks like a misspelled secret (``pasword:``) is masked too."""
    line = _URL_CREDENTIALS.sub(r"\1***@", line)
    line = _LOOSE_CREDENTIALS.sub("***@", line)
    line = _PARAM_PASSWORD.sub(r"\1***", line)
    line = _SECRET_VALUE.sub(r"\1\2***", line)
    line = _AUTH_SCHEME_VALUE.sub(r"\1\2***", line)
    found = _KEY_VALUE.match(line)
    if found and found.group(4) != "***" and looks_secret(found.group(2)):
        line = f"{found.group(1)}{found.group(2)}{found.group(3)}***"
    elif found and names_address(found.group(2)):
        line = f"{found.group(1)}{found.group(2)}{found.group(3)}{mask_address(found.group(4))}"
    return line


def mask_address(address: str) -> str:
    """``address`` (a URL or ``host:port``) with everything before its last ``@`` replaced by ``***``
    (a well-formed ``scheme://`` is kept): whatever the form, a credential in it is never shown."""
    head, at, host = address.rpartition("@")
    if not at:
        return address
    quote = head[:1] if head[:1] in ("'", '"') else ""
    scheme = _SCHEME.match(head[len(quote):])
    return f"{quote}{scheme.group(0) if scheme else ''}***@{host}"


def names_address(key: str) -> bool:
    """Whether a config key holds a server address that may carry credentials (``url``, ``addr``, ``base_url``)."""
    lowered = key.lower()
    return lowered in ("url", "addr", "address") or lowered.endswith("_url")


def looks_secret(key: str) -> bool:
    """Whether ``key`` names a secret, or is close to a name that does (a typo must not leak its value)."""
    lowered = key.lower()
    if lowered in SECRET_KEYS or any(word in lowered for word in ("passw", "secret", "token", "apikey", "authoriz")):
        return True
    return bool(difflib.get_close_matches(lowered, SECRET_KEYS, n=1, cutoff=0.75))


__all__ = ["SECRET_KEYS", "looks_secret", "mask_address", "mask_secrets", "mask_text", "names_address"]
