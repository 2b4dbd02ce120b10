"""The SQL of the PostgreSQL store, loaded from the ``.sql`` files beside this module.

Each file is one statement (``sql/*.sql``) or one migration (``sql/migrations/NNN_name.sql``), with
``{schema}`` where the store's schema goes (``{filter}`` in the two listing statements, and
``{fence}`` where a write checks its lease: ``sql/fence_held.sql``). The
statements only store, find and move records atomically; what the records are (``seq``, chain
hashes, message counts, checkpoints, which entries a read returns) is computed by the client with
:mod:`aixgo.session.core` and passed in as parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from psycopg import sql

_MIGRATION_NAME = re.compile(r"(\d{3})_([a-z0-9_]+)\.sql")

LIST_FILTERS = {
    (False, False): "",
    (True, False): "AND agent = %(agent)s",
    (False, True): "AND user_id = %(user_id)s",
    (True, True): "AND agent = %(agent)s AND user_id = %(user_id)s",
}
"""The ``{filter}`` of ``list_page.sql`` / ``list_all.sql`` by (agent given, user given)."""


def _files() -> resources.abc.Traversable:
    return resources.files("aixgo.session.postgres").joinpath("sql")


@cache
def source(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return _files().joinpath(f"{name}.sql").read_text(encoding="utf-8")


def render(text: str, schema: str, **fragments: str) -> bytes:
    """``text`` with ``{schema}`` as the quoted identifier ``schema`` and each ``{name}`` of
    ``fragments`` as the given SQL (fixed strings of this module, never user input)."""
    values: dict[str, sql.Composable] = {"schema": sql.Identifier(schema)}
    values.update({key: sql.SQL(value) for key, value in fragments.items()})
    return sql.SQL(text).format(**values).as_bytes(None)


@dataclass(frozen=True)
class Migration:
    """One versioned step of the schema."""

    version: int
    name: str
    text: str

    def render(self, schema: str) -> str:
        """The migration's SQL for ``schema``."""
        return render(self.text, schema).decode()


@cache
def migrations() -> tuple[Migration, ...]:
    """Every migration, in version order (version 0 creates the schema and the version table)."""
    found = []
    for item in _files().joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.fullmatch(item.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), item.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(len(found))):
        raise RuntimeError(f"migrations must be numbered 000, 001, … without gaps: {[m.version for m in found]}")
    return tuple(found)


def _code(text: str) -> str:
    """``text`` without its full-line comments."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


class Statements:
    """Every statement, rendered for one schema (bytes, ready to execute)."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._rendered: dict[tuple[str, str], bytes] = {}

    def __getitem__(self, name: str) -> bytes:
        return self.get(name)

    def get(self, name: str, filter: str = "") -> bytes:
        """The statement of ``sql/<name>.sql``, with ``{filter}`` when it has one."""
        key = (name, filter)
        rendered = self._rendered.get(key)
        if rendered is None:  # full-line comments stay in the files: they are not sent with every call
            text = _code(source(name)).replace("{fence}", _code(source("fence_held")).strip())
            rendered = self._rendered[key] = render(text, self.schema, **({"filter": filter} if "{filter}" in text else {}))
        return rendered


LATEST_VERSION = len(migrations()) - 1
"""The schema version this aixgo writes and understands."""

__all__ = ["LATEST_VERSION", "LIST_FILTERS", "Migration", "Statements", "migrations", "render", "source"]
