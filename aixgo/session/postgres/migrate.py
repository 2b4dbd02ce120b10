"""Versioned migrations of the PostgreSQL store's schema.

``sql/migrations/NNN_name.sql`` are applied in order, each in the transaction that records its
version in ``<schema>.aixgo_migrations``, under an advisory lock so processes starting together never
apply one twice. A schema newer than this aixgo understands is refused
(:class:`~aixgo.errors.UnsupportedVersionError`); an older one is upgraded on first use
(``auto_migrate``) or by ``aixgo sessions migrate``, whose ``--dry-run`` prints the SQL instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from aixgo.errors import StoreError, UnsupportedVersionError
from aixgo.logs import get_logger
from aixgo.session.postgres.options import PostgresOptions
from aixgo.session.postgres.statements import LATEST_VERSION, Migration, migrations

log = get_logger("aixgo.session.postgres")


@dataclass(frozen=True)
class MigrationPlan:
    """Where a schema stands: its version (-1: no version table yet) and the migrations it lacks."""

    schema: str
    version: int
    pending: tuple[Migration, ...]

    def sql(self) -> str:
        """The SQL that applying the plan runs (what ``aixgo sessions migrate --dry-run`` prints)."""
        parts = []
        for migration in self.pending:
            parts.append(f"-- migration {migration.version:03d}_{migration.name}\nBEGIN;\n")
            parts.append(migration.render(self.schema).rstrip() + "\n")
            record = f"INSERT INTO {_quoted(self.schema)}.aixgo_migrations (version, name) "
            parts.append(record + f"VALUES ({migration.version}, '{migration.name}');\nCOMMIT;\n\n")
        return "".join(parts)


def _quoted(schema: str) -> str:
    return sql.Identifier(schema).as_string(None)


def current_version(conn: Any, schema: str) -> int:
    """The highest migration applied to ``schema``; -1 when it has no version table."""
    # pg_class is read with the statement's snapshot: to_regclass() would consult this connection's
    # catalog cache, which can still say "no such table" after another process created it
    (exists,) = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = 'aixgo_migrations')",
        (schema,),
    ).fetchone()
    if not exists:
        return -1
    (version,) = conn.execute(sql.SQL("SELECT COALESCE(max(version), -1) FROM {}.aixgo_migrations").format(
        sql.Identifier(schema))).fetchone()
    return int(version)


def plan(conn: Any, schema: str, address: str) -> MigrationPlan:
    """What ``schema`` lacks; raises for a schema newer than this aixgo."""
    version = current_version(conn, schema)
    if version > LATEST_VERSION:
        raise UnsupportedVersionError(
            f"the aixgo schema {schema!r} is at version {version}, newer than this aixgo understands "
            f"({LATEST_VERSION}): upgrade aixgo (every process that uses this database)",
            path=f"{address} (schema {schema})",
        )
    return MigrationPlan(schema, version, tuple(m for m in migrations() if m.version > version))


def apply(conn: Any, schema: str, address: str) -> list[Migration]:
    """Apply what ``schema`` lacks (each migration in its own transaction, under an advisory lock);
    returns the migrations applied. ``conn`` is in autocommit mode."""
    _check_encoding(conn, address)
    applied: list[Migration] = []
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"aixgo migrations {schema}",))
            pending = plan(conn, schema, address).pending
            if not pending:
                return applied
            migration = pending[0]
            conn.execute(migration.render(schema).encode())
            conn.execute(
                sql.SQL("INSERT INTO {}.aixgo_migrations (version, name) VALUES (%s, %s)").format(sql.Identifier(schema)),
                (migration.version, migration.name),
            )
        log.info("postgres.migrated", address=address, schema=schema, version=migration.version, name=migration.name)
        applied.append(migration)


def _check_encoding(conn: Any, address: str) -> None:
    (encoding,) = conn.execute("SHOW server_encoding").fetchone()
    if str(encoding).upper() not in ("UTF8", "UTF-8"):
        raise StoreError(
            f"the database at {address} uses the {encoding} encoding; aixgo stores records as UTF-8 text: "
            "create the database WITH ENCODING 'UTF8'"
        )


def ensure(conn: Any, options: PostgresOptions, address: str) -> None:
    """Make sure the schema is this aixgo's version: upgrade it (``auto_migrate``), or say how."""
    current = plan(conn, options.schema, address)
    if not current.pending:
        return
    if not options.auto_migrate:
        raise StoreError(
            f"the aixgo schema {options.schema!r} at {address} is at version {current.version}, this aixgo needs "
            f"{LATEST_VERSION}: run `aixgo sessions migrate` (or set auto_migrate: true)"
        )
    apply(conn, options.schema, address)


__all__ = ["MigrationPlan", "apply", "current_version", "ensure", "plan"]
