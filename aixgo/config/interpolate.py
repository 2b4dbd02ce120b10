"""``${VAR}`` interpolation of string values in config files.

* ``${NAME}`` is replaced by the environment variable ``NAME``; if it is not set, that is an error
  naming the variable (an empty value is used as is).
* ``${NAME:-default}`` uses ``default`` when ``NAME`` is unset *or empty* (as in the shell).
* ``$${`` writes a literal ``${``. Any other ``$`` is kept as it is, so ``pa$$word`` or ``$HOME``
  stay untouched (only the braced form is interpolated).

Names are ``[A-Za-z_][A-Za-z0-9_]*``. A default ends at the first ``}`` and cannot contain another
reference.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from aixgo.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SINGLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}")


class InterpolationError(ConfigError, ValueError):
    """A ``${...}`` reference cannot be resolved.

    ``variable`` names the variable (``None`` for a malformed reference), ``offset`` is the
    position of the ``$`` in the string and ``hint`` suggests a fix.
    """

    def __init__(self, message: str, *, variable: str | None, offset: int, hint: str) -> None:
        self.variable = variable
        self.offset = offset
        self.hint = hint
        super().__init__(message)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Return ``text`` with every ``${NAME}`` / ``${NAME:-default}`` replaced from ``env``.

    >>> interpolate("${HOST:-localhost}:${PORT}", {"PORT": "6379"})
    'localhost:6379'
    >>> interpolate("literal $${NOT_A_VAR} and $PATH", {})
    'literal ${NOT_A_VAR} and $PATH'

    Raises :class:`InterpolationError` for an unset variable without a default and for a
    malformed reference.
    """
    out: list[str] = []
    pos = 0
    while True:
        dollar = text.find("$", pos)
        if dollar < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:dollar])
        if text.startswith("$${", dollar):
            out.append("${")
            pos = dollar + 3
            continue
        if not text.startswith("${", dollar):
            out.append("$")
            pos = dollar + 1
            continue
        end = text.find("}", dollar + 2)
        if end < 0:
            raise InterpolationError(
                f"unterminated variable reference {text[dollar:dollar + 40]!r}: missing '}}'",
                variable=None, offset=dollar,
                hint="write ${NAME} or ${NAME:-default}; for a literal '${' write '$${'",
            )
        out.append(_resolve(text[dollar + 2:end], env, dollar))
        pos = end + 1


def _resolve(body: str, env: Mapping[str, str], offset: int) -> str:
    name, has_default, default = body.partition(":-")
    if not _NAME.fullmatch(name):
        raise InterpolationError(
            f"invalid variable reference '${{{body}}}': expected ${{NAME}} or ${{NAME:-default}}",
            variable=None, offset=offset,
            hint="names are letters, digits and '_', not starting with a digit; "
                 "for a literal '${' write '$${'",
        )
    if has_default and "${" in default:
        raise InterpolationError(
            f"invalid variable reference '${{{body}}}': a default cannot contain another reference",
            variable=name, offset=offset, hint="use a literal default value",
        )
    value = env.get(name)
    if has_default:
        return value if value else default
    if value is None:
        raise InterpolationError(
            f"environment variable {name} is not set",
            variable=name, offset=offset,
            hint=f"export {name}=..., or give a default: ${{{name}:-default}} (${{{name}:-}} for empty)",
        )
    return value


def is_single_reference(text: str) -> bool:
    """True if ``text`` is exactly one ``${...}`` reference (then the loader types the result like YAML)."""
    return _SINGLE.fullmatch(text) is not None


__all__ = ["InterpolationError", "interpolate", "is_single_reference"]
