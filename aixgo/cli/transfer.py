"""``aixgo sessions export`` and ``import``: a session as JSONL, into any store, keeping ids,
timestamps and checkpoints; a cut or edited export is refused, naming the line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click

from aixgo.cli.common import SESSION_ID, CliError, CliUsageError, confirm, get_session, plural
from aixgo.cli.output import write_lines
from aixgo.cli.store_options import open_manager, store_choice, store_options
from aixgo.errors import SessionCorruptedError, SessionExistsError
from aixgo.session.ids import new_session_id
from aixgo.session.manager import Manager, Session
from aixgo.session.transfer import export_lines, import_lines


@click.command(short_help="Export a session as JSONL (stdout or a file).")
@SESSION_ID
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output (-): a regular file is replaced atomically (a new one "
    "gets mode 0600); a FIFO or device is written into (see docs/cli.md).",
)
@store_options
@click.pass_context
def export(ctx: click.Context, session_id: str, output: Path | None) -> None:
    """Export a session as JSONL: header, every entry (abandoned branches too), checkpoints, head.

    The output imports into any store with `aixgo sessions import`, keeping ids, timestamps and
    checkpoints; exporting the imported session gives the same bytes."""
    _, sess = get_session(ctx, session_id)
    lines = list(export_lines(sess))
    if output is None or str(output) == "-":
        stream = sys.stdout.buffer
        for line in lines:
            stream.write(line.encode("utf-8") + b"\n")
        stream.flush()
        return
    try:
        count = write_lines(output, lines)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"exported session {sess.id} ({count} lines) to {output}", err=True)


def _utf8_lines(stream: IO[bytes], source: str) -> Iterator[str]:
    for number, raw in enumerate(stream, start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SessionCorruptedError(
                f"not a valid session export: not UTF-8 ({exc.reason})", path=source, line=number
            ) from None


@click.command("import", short_help="Import a session exported as JSONL (a file or -).")
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=str), metavar="FILE"
)
@click.option("--new-id", is_flag=True, help="Import under a new session id (a copy beside the existing one).")
@click.option("--replace", is_flag=True, help="Replace a session with the same id (asks first unless --yes).")
@click.option("-y", "--yes", is_flag=True, help="With --replace: do not ask for confirmation.")
@store_options
@click.pass_context
def import_session(ctx: click.Context, file: str, new_id: bool, replace: bool, yes: bool) -> None:
    """Import a session exported by `aixgo sessions export` (FILE, or - for standard input).

    Prints the imported session's id on standard output. The session keeps its id; when the store
    already has it, nothing is stored unless --new-id (import a copy under a new id) or --replace
    (after asking, the import takes the stored session's place in one atomic step: until it is whole
    the old one stays, whatever happens) is given."""
    if new_id and replace:
        raise CliUsageError("use either --new-id or --replace, not both")
    manager = open_manager(ctx)
    lines = _read_export(file)
    plan_id = new_session_id() if new_id else None
    try:
        sess = import_lines(manager, lines, file if file != "-" else "<stdin>", session_id=plan_id)
    except SessionExistsError as exc:
        if not replace:
            raise CliError(
                f"{exc}; import it as a copy with --new-id, or replace the stored one with --replace"
            ) from None
        sess = _replace(manager, lines, file, exc.session_id or "", yes)
    info = sess.get_info()
    click.echo(
        f"imported session {info.id} (agent {info.agent}, {plural(info.message_count, 'message')}, "
        f"{plural(len(sess.checkpoints()), 'checkpoint')}) into {store_choice(ctx).describe()}",
        err=True,
    )
    click.echo(sess.id)


def _read_export(file: str) -> list[str]:
    if file == "-":
        return list(_utf8_lines(sys.stdin.buffer, "<stdin>"))
    try:
        with open(file, "rb") as stream:
            return list(_utf8_lines(stream, file))
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror or exc}") from None


def _replace(manager: Manager, lines: list[str], file: str, session_id: str, yes: bool) -> Session:
    """Import ``lines`` in place of the stored session ``session_id`` (after asking), in one atomic step of
    the store: until the new session is whole the old one stays, and a failure or a kill at any moment
    leaves one of them."""
    old = manager.get(session_id)
    if not yes:
        confirm(f"Replace session {old.id} (agent {old.agent_name}, "
                f"{plural(old.get_info().message_count, 'message')}) with the one in {file}", "replace")
    try:
        return import_lines(manager, lines, file, replace=True)
    except SessionExistsError as exc:  # the stored one belongs to another agent
        raise CliError(f"{exc}: only a session of the same agent is replaced; delete it first, or import "
                       "a copy with --new-id") from None
