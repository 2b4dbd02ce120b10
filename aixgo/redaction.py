"""Keeping secrets out of everything aixgo prints or logs: the one redaction helper.

:func:`mask_secrets` masks URL credentials (``redis://:pw@host`` → ``redis://***@host``) and the
values of keys that name a secret, or look like a misspelling of one (``pasword: …``).
"""

from __future__ import annotations

import difflib
import re

_SECRET_VALUE = re.compile(r"(?i)\b(api_keys?|password)(\s*:\s*)(?![\"']?\$\{)(\S.*)$")
_URL_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.-]*://)[^@\s/]*@", re.IGNORECASE)


SECRET_KEYS = ("password", "api_key", "api_keys")
_KEY_VALUE = re.compile(r"^(\s*(?:-\s*)?)([A-Za-z_][\w-]*)(\s*:\s*)(?![\"']?\$\{)(\S.*)$")


def mask_secrets(line: str) -> str:
    """``line`` with API keys, passwords and URL credentials replaced by ``***``: the one redaction
    helper for anything aixgo prints or logs that may hold a secret (config lines, store addresses).
    A key that looks like a misspelled secret (``pasword:``) is masked too."""
    line = _URL_CREDENTIALS.sub(r"\1***@", line)
    line = _SECRET_VALUE.sub(r"\1\2***", line)
    found = _KEY_VALUE.match(line)
    if found and found.group(4) != "***" and looks_secret(found.group(2)):
        line = f"{found.group(1)}{found.group(2)}{found.group(3)}***"
    return line


def looks_secret(key: str) -> bool:
    """Whether ``key`` names a secret, or is close to a name that does (a typo must not leak its value)."""
    lowered = key.lower()
    if lowered in SECRET_KEYS or any(word in lowered for word in ("passw", "secret", "token", "apikey")):
        return True
    return bool(difflib.get_close_matches(lowered, SECRET_KEYS, n=1, cutoff=0.75))


__all__ = ["SECRET_KEYS", "looks_secret", "mask_secrets"]
