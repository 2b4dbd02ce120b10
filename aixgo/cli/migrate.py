"""``aixgo sessions migrate``: create or upgrade the PostgreSQL store's schema (``--dry-run`` prints the
SQL instead). Stores created on first use migrate themselves unless ``auto_migrate: false``; this is
for teams that run schema changes as a step of their own."""

from __future__ import annotations

import click

from aixgo.cli.common import CliUsageError, plural
from aixgo.cli.store_options import open_manager, store_choice, store_options


@click.command(short_help="Create or upgrade the PostgreSQL store's schema (--dry-run: print the SQL).")
@click.option("--dry-run", is_flag=True, help="Print the SQL that would run, and change nothing.")
@store_options
@click.pass_context
def migrate(ctx: click.Context, dry_run: bool) -> None:
    """Bring the PostgreSQL store's schema to this aixgo's version (versioned migrations, recorded in
    <schema>.aixgo_migrations). A schema newer than this aixgo is refused."""
    backend = open_manager(ctx).backend
    plan_of = getattr(backend, "migration_plan", None)
    if plan_of is None:
        raise CliUsageError(f"migrate applies to the PostgreSQL store, not the {store_choice(ctx).describe()}")
    from aixgo.session.postgres.statements import LATEST_VERSION  # noqa: PLC0415 - psycopg loads only here

    plan = plan_of()
    where = store_choice(ctx).describe()
    if dry_run:
        if not plan.pending:
            click.echo(f"-- the schema {plan.schema!r} in {where} is up to date (version {plan.version})", err=True)
            return
        click.echo(f"-- {where}: schema {plan.schema!r} at version {plan.version}, this aixgo needs {LATEST_VERSION}")
        click.echo(plan.sql(), nl=False)
        return
    applied = backend.migrate()  # type: ignore[attr-defined]
    if not applied:
        click.echo(f"the schema {plan.schema!r} in {where} is up to date (version {LATEST_VERSION})", err=True)
        return
    names = ", ".join(f"{m.version:03d}_{m.name}" for m in applied)
    click.echo(f"applied {plural(len(applied), 'migration')} to schema {plan.schema!r} in {where}: {names}", err=True)
