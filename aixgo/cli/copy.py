"""``aixgo sessions copy --from STORE --to STORE [ID...]``: move sessions between any two stores (file,
Redis, PostgreSQL), byte for byte, each one verified: its export from the target must equal its export
from the source, line for line (ids, timestamps, branches, checkpoints and their checksums)."""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

import click

from aixgo.cli.common import CliError, plural
from aixgo.cli.ids import valid_id
from aixgo.cli.store_options import StoreChoice, build_manager
from aixgo.errors import AixgoError, SessionExistsError
from aixgo.session.manager import Manager
from aixgo.session.transfer import export_lines, import_lines


def parse_store(spec: str) -> StoreChoice:
    """A store named on the command line: a ``postgresql://`` URL, a ``redis://`` (``rediss://``,
    ``unix://``) URL, a config file (``.yaml``/``.yml``, its ``session:`` store), or a file store's folder."""
    if spec.startswith(("postgresql://", "postgres://")):
        return StoreChoice(store="postgres", pg_url=spec)
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return StoreChoice(store="redis", redis_url=spec)
    path = Path(spec).expanduser()
    if path.suffix in (".yaml", ".yml"):
        return StoreChoice(config=path)
    return StoreChoice(store="file", base_dir=path)


def _open(spec: str, what: str) -> tuple[Manager, str]:
    choice = parse_store(spec)
    if what == "--from" and choice.missing():
        raise CliError(f"{what}: {choice.describe()} does not exist")
    try:
        return build_manager(choice), choice.describe()
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint=f"'{what}'") from None


def copy_one(source: Manager, target: Manager, session_id: str) -> int:
    """Copy one session and verify it; returns its number of lines. Raises ``SessionExistsError`` when
    the target has the id, :class:`CliError` when the copy does not read back identical."""
    lines = list(export_lines(source.get(session_id)))
    copied = import_lines(target, lines, f"the exported {session_id}")
    back = list(export_lines(copied))
    if back != lines:
        first = next(i for i, (a, b) in enumerate(zip_longest(back, lines), 1) if a != b)
        raise CliError(f"session {session_id}: the copy does not read back identical (line {first} differs)")
    return len(lines)


@click.command(short_help="Copy sessions from one store to another, byte for byte, verified.")
@click.option("--from", "source_spec", required=True, metavar="STORE",
              help="The store to copy from: a folder (file store), redis://…, postgresql://…, or a config file.")
@click.option("--to", "target_spec", required=True, metavar="STORE", help="The store to copy to (same forms).")
@click.option("--skip-existing", is_flag=True, help="Leave sessions the target already has as they are (else they are errors).")
@click.argument("session_ids", nargs=-1, metavar="[ID...]", callback=valid_id("session id"))
def copy(source_spec: str, target_spec: str, skip_existing: bool, session_ids: tuple[str, ...]) -> None:
    """Copy sessions (all of them, or the IDs given) from one store to another: file, Redis, PostgreSQL.

    Each session keeps its id, timestamps, branches and checkpoints, and is verified: its export from
    the target must equal its export from the source, byte for byte. Sessions already in the target
    are reported (exit code 1) unless --skip-existing; the others are copied anyway.

    \b
    Examples:
      aixgo sessions copy --from ~/.aixgo/sessions --to postgresql://aixgo@db/app
      aixgo sessions copy --from redis://localhost:6379/0 --to postgresql://aixgo@db/app s-1 s-2
    """
    source, source_where = _open(source_spec, "--from")
    try:
        target, target_where = _open(target_spec, "--to")
    except BaseException:
        source.close()
        raise
    with source, target:
        ids = list(session_ids) or [info.id for info in source.list() if info.damage is None]
        copied, skipped, failed = 0, 0, []
        for session_id in ids:
            try:
                count = copy_one(source, target, session_id)
            except SessionExistsError:
                if skip_existing:
                    skipped += 1
                    continue
                failed.append(f"session {session_id} already exists in {target_where} (--skip-existing leaves it)")
                continue
            except (AixgoError, CliError) as exc:
                failed.append(str(exc) if isinstance(exc, AixgoError) else exc.message)
                continue
            copied += 1
            click.echo(f"copied {session_id} ({count} lines, verified)", err=True)
    kept = f", {skipped} already there" if skipped else ""
    click.echo(f"copied {plural(copied, 'session')} from {source_where} to {target_where}{kept}", err=True)
    if failed:
        raise CliError("; ".join(failed))
