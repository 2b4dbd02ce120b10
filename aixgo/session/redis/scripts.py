"""The Lua scripts of the Redis session store, loaded from the ``.lua`` files beside this module.

Every script that touches a session receives that session's keys, in this order::

    KEYS[1] meta   KEYS[2] hist   KEYS[3] ent   KEYS[4] gone   KEYS[5] cps   (KEYS[6] lease)

and, as its first two arguments, the highest format version this client understands and the TTL
in milliseconds (``0``: no expiry); ``lua/prelude.lua`` (prepended to those scripts) holds their
shared helpers. All keys of one session share a hash tag, so every script is valid on Redis
Cluster. Replies are arrays whose first element is a status string:

``ok``        success (more elements follow, per script)
``missing``   the session does not exist (or expired)
``version``   the session was written by a newer format; the second element is its version
``stale``     a compare-and-set failed: the head moved; ``len``, ``hh``, ``head`` and ``msgs`` follow
``dup``       the entry / checkpoint id is already stored; its stored bytes follow
``nocp``      no such checkpoint
``mismatch``  the checkpoint's checksum is not the stored chain hash of its entry
``corrupt``   stored data is inconsistent; a description follows
``kept``      a conditional delete found the session updated since
``fenced``    a write fenced by a turn lease's token found that lease no longer held (nothing written)

The scripts store and move records atomically; what the records are (``seq``, chain hashes,
message counts, checkpoints, which entries a read returns) is computed by the client with
:mod:`aixgo.session.core` and passed in. Timestamps ("updated") are the records' own, in µs.

An entry's record in ``ent`` is ``"<w> <seq> <msgs> <hash> <parent-id>"``: write counter, position in
history, chat messages up to and including it, hex chain hash, and the parent's id (empty for seq 1;
the id comes last because ids may contain spaces).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources

from aixgo.session.core import codec
from aixgo.session.core.codec import ROOT_HEX

_SESSION_SCRIPTS = (
    "create",
    "import",
    "append",
    "history",
    "all_entries",
    "snapshot",
    "checkpoint",
    "list_checkpoints",
    "checkpoint_info",
    "chain",
    "restore",
    "summary",
)
_PLAIN_SCRIPTS = ("delete", "lease_acquire", "lease_extend", "lease_release", "index_forget")


@dataclass(frozen=True)
class LuaScript:
    """One Lua script: its source and the SHA-1 ``EVALSHA`` knows it by."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())  # noqa: S324 (Redis's id)


def _read(name: str) -> str:
    return resources.files("aixgo.session.redis").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def entry_info(write: int, seq: int, messages: int, hash_hex: str, parent_id: str | None) -> str:
    """An entry's record in ``ent`` (see the module docstring), as ``append.lua`` writes it and
    ``parse_info`` in ``lua/prelude.lua`` reads it."""
    return f"{write} {seq} {messages} {hash_hex} {parent_id or ''}"


def checkpoint_info(number: int, seq: int, entry_id: str | None) -> str:
    """A checkpoint's ``e:<id>`` field in ``cps``: its creation number, seq and entry id (as
    ``checkpoint.lua`` writes it and ``restore.lua`` reads it)."""
    return f"{number} {seq} {entry_id or ''}"


def write_order(info: bytes) -> int:
    """The first number of an :func:`entry_info` or :func:`checkpoint_info`: the order written."""
    return int(info.split(b" ", 1)[0])


def lua_string(data: bytes) -> str:
    """``data`` as a Lua string literal (quotes, backslashes and unprintable bytes as decimal escapes)."""
    return "'" + "".join(chr(b) if 32 <= b < 127 and b not in b"'\\" else f"\\{b:03d}" for b in data) + "'"


def layout_constants() -> str:
    """The Lua constants of the record's bytes, generated from :mod:`aixgo.session.core.codec` (the
    one owner of those bytes) into the prelude at its ``@LAYOUT@`` line."""
    constants = {
        "ROOT": ROOT_HEX.encode(),
        "ENTRY_START": codec.ENTRY_START,
        "ENTRY_ID_KEY": codec.ID_KEY + b'"',
    }
    return "".join(f"local {name} = {lua_string(value)}\n" for name, value in constants.items())


PRELUDE = _read("prelude").replace("-- @LAYOUT@\n", layout_constants())
"""What every session script starts with: the layout constants and the shared helpers."""


def _load() -> dict[str, LuaScript]:
    scripts = {name: LuaScript(name, PRELUDE + _read(name)) for name in _SESSION_SCRIPTS}
    scripts.update({name: LuaScript(name, _read(name)) for name in _PLAIN_SCRIPTS})
    return scripts


SCRIPTS: dict[str, LuaScript] = _load()
"""Every script by name, loaded once at import."""

__all__ = [
    "PRELUDE",
    "ROOT_HEX",
    "SCRIPTS",
    "LuaScript",
    "checkpoint_info",
    "entry_info",
    "layout_constants",
    "lua_string",
    "write_order",
]
