"""``aixgo validate CONFIG...`` and ``aixgo schema``: check config files, print the JSON Schema."""

from __future__ import annotations

import os
from pathlib import Path

import click

from aixgo.config import Config, format_duration, load_config, schema_text
from aixgo.errors import ConfigError

EXIT_INVALID = 2


class InvalidConfigs(click.ClickException):
    """Some files were invalid (their problems are already printed): exit 2 with an optional last line."""

    exit_code = EXIT_INVALID

    def show(self, file: object = None) -> None:
        if self.message:
            click.echo(self.message, err=True)


def _home_relative(path: Path) -> str:
    home = Path(os.path.expanduser("~"))
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


def summary(config: Config) -> str:
    """One line describing a valid config: agents, store and where it keeps sessions."""
    names = config.agent_names
    agents = f"{len(names)} agent{'s' * (len(names) != 1)}" + (f" ({', '.join(names)})" if names else "")
    session = config.session
    if not session.enabled:
        store = "sessions disabled"
    elif session.store == "file":
        store = f"file store at {_home_relative(session.base_dir)} (fsync {session.fsync})"
    else:
        target = session.redis.safe_target if session.redis is not None else "localhost:6379"
        store = f"redis store at {target}"
        if session.ttl is not None:
            store += f" (ttl {format_duration(session.ttl)})"
    return f"{agents}, {store}"


@click.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="Print nothing for valid files, only problems.")
def validate(configs: tuple[Path, ...], quiet: bool) -> None:
    """Check config files: every problem is reported with file:line:column.

    Exits 0 when all files are valid (one summary line each), 2 otherwise; settings that load but
    do nothing, or may not mean what they say (YAML's 010 is 8), are printed as warnings. Checking
    touches no session store and no network; `module:function` tools are imported, as `run` does.
    """
    failed = 0
    for path in configs:
        try:
            config = load_config(path, import_tools=True)
        except ConfigError as exc:
            failed += 1
            click.echo(str(exc), err=True)
            for warning in exc.warnings:
                click.echo(f"warning: {warning}", err=True)
            continue
        for warning in config.warnings:
            click.echo(f"warning: {warning}", err=True)
        if not quiet:
            click.echo(f"{path}: ok: {summary(config)}")
    if failed:
        last = f"{failed} of {len(configs)} config files are invalid" if len(configs) > 1 else ""
        raise InvalidConfigs(last)


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the schema to this file instead of standard output.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema (2020-12) of config files, for editors and CI."""
    text = schema_text()
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")


COMMANDS = [validate, schema]

__all__ = ["COMMANDS", "schema", "summary", "validate"]
