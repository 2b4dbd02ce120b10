"""``aixgo sessions verify [ID | --all]``: check every stored record of a session, on any store.

Unlike ``list`` (which reads each session's header and end only), this reads every record: on the file
store each line's CRC-32, its place in the session (``seq``, parent, ids once, checkpoints and
restores), the chain hash each line records, and the bytes after the last complete line; on Redis
every key against the counts in the session's header and the whole session against the same rules.
It exits 1 when anything is damaged, so it can run from cron or CI.
"""

from __future__ import annotations

import click

from aixgo.cli.common import CliError, CliUsageError, echo_json, plural
from aixgo.cli.ids import valid_id
from aixgo.cli.store_options import open_manager, store_choice, store_options
from aixgo.errors import SessionNotFoundError, StoreError
from aixgo.session.backend import Backend
from aixgo.session.types import SessionInfo, Verification


@click.command(short_help="Check every record of a session (or --all); exit 1 on damage.")
@click.argument("session_id", metavar="[ID]", required=False, callback=valid_id("session id"))
@click.option("--all", "every", is_flag=True, help="Check every session of the store.")
@click.option("--agent", callback=valid_id("agent name"), help="With --all: only this agent's sessions.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of lines.")
@store_options
@click.pass_context
def verify(ctx: click.Context, session_id: str | None, every: bool, agent: str | None, as_json: bool) -> None:
    """Check every stored record of session ID (or of every session with --all) and exit 1 if any is
    damaged.

    \b
    Examples:
      aixgo sessions verify 3f2c9a1e-…       # one session
      aixgo sessions verify --all --json     # the whole store, as JSON
    """
    if (session_id is None) == (not every):
        raise CliUsageError("give a session ID or --all (not both)")
    choice = store_choice(ctx)
    if choice.missing():  # a file store folder that does not exist holds no sessions
        if session_id is not None:
            raise CliError(f"session {session_id!r} not found in {choice.file_dir} (the directory does not exist)")
        results: list[Verification] = []
    else:
        manager = open_manager(ctx)
        backend = manager.backend
        if session_id is not None:
            results = [_one(backend, _resolve(manager.list(), session_id))]
        else:
            results = [_one(backend, info.id) for info in manager.list(agent=agent)]
    damaged = [result for result in results if result.damage is not None]
    if as_json:
        echo_json([_json(result) for result in results])
    else:
        for result in results:
            click.echo(_line(result))
        if every:
            verdict = f"{len(damaged)} damaged" if damaged else "none damaged"
            click.echo(f"{plural(len(results), 'session')} checked, {verdict}")
    if damaged:
        ctx.exit(1)


def _resolve(infos: list[SessionInfo], session_id: str) -> str:
    """``session_id``, or the one listed id it is a unique prefix of."""
    ids = [info.id for info in infos]
    if session_id in ids:
        return session_id
    found = sorted(i for i in ids if i.startswith(session_id))
    if len(found) == 1:
        return found[0]
    if found:
        raise CliError(f"session id prefix {session_id!r} is ambiguous: it matches {', '.join(found[:5])}; type more")
    return session_id  # the store says it is not found


def _one(backend: Backend, session_id: str) -> Verification:
    try:
        return backend.verify(session_id)
    except SessionNotFoundError:
        raise
    except StoreError as exc:  # e.g. an entry named like a session file that is not a regular file
        return Verification(session_id, 0, str(exc))


def _line(result: Verification) -> str:
    if result.damage is not None:
        return f"DAMAGED  {result.session_id}  {result.damage}"
    entries = f"{result.entries} {'entry' if result.entries == 1 else 'entries'}"
    counts = f"{entries}, {plural(result.checkpoints, 'checkpoint')}"
    return f"ok       {result.session_id}  ({plural(result.records, 'record')}: {counts})"


def _json(result: Verification) -> dict[str, object]:
    return {
        "id": result.session_id,
        "records": result.records,
        "entries": result.entries,
        "checkpoints": result.checkpoints,
        "damage": result.damage,
    }
