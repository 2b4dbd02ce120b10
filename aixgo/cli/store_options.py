"""Which session store a command works on: ``--config``, or ``--store/--base-dir/--redis-url/--pg-url``.

:func:`store_options` adds the options to a click group *and* to its subcommands, so both
``aixgo sessions --store redis list`` and ``aixgo sessions list --store redis`` work. Values given
after the subcommand win over values given before it; a command-line value always wins over the
``AIXGO_CONFIG`` environment variable. :func:`open_manager` turns the choice into a
:class:`~aixgo.session.Manager` that is closed when the command ends.

Resolution:

* ``--config FILE`` (or ``AIXGO_CONFIG``): the store of that config file's ``session:`` section.
  Giving ``--config`` together with ``--store``, ``--base-dir``, ``--redis-url`` or ``--pg-url`` is a
  usage error.
* otherwise ``--store`` (default ``file``; ``redis`` when only ``--redis-url`` is given, ``postgres``
  when only ``--pg-url`` is): the file store at ``--base-dir`` (default ``~/.aixgo/sessions``), Redis
  at ``--redis-url`` (default ``localhost:6379``), or PostgreSQL at ``--pg-url`` (default
  ``postgresql://localhost/aixgo``) in ``--pg-schema`` (default ``aixgo``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

import click
from click.core import ParameterSource

from aixgo.cli.app import debug_option
from aixgo.redaction import mask_secrets
from aixgo.session import stores
from aixgo.session.manager import Manager
from aixgo.session.stores import (
    DEFAULT_BASE_DIR,
    DEFAULT_POSTGRES,
    DEFAULT_REDIS,
    DurableStoreKind,
    StoreOptions,
)

CONFIG_ENV = "AIXGO_CONFIG"
_META_KEY = "aixgo.cli.store_options"
_NAMES = ("config", "store", "base_dir", "redis_url", "redis_cluster", "pg_url", "pg_schema")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class StoreChoice:
    """The store selected on the command line: a config file, or a store kind and its location."""

    config: Path | None = None
    store: DurableStoreKind = "file"
    base_dir: Path | None = None
    redis_url: str | None = None
    redis_cluster: bool = False
    pg_url: str | None = None
    pg_schema: str | None = None

    @property
    def file_dir(self) -> Path:
        """The file store's directory (absolute, ``~`` expanded)."""
        return Path(os.path.expanduser(self.base_dir or DEFAULT_BASE_DIR)).absolute()

    def describe(self) -> str:
        """A short human description, e.g. ``file store at /home/me/.aixgo/sessions``."""
        if self.config is not None:
            return f"the store configured in {self.config}"
        if self.store == "redis":
            return f"Redis store at {mask_secrets(self.redis_url or DEFAULT_REDIS)}"
        if self.store == "postgres":
            schema = f" (schema {self.pg_schema})" if self.pg_schema else ""
            return f"PostgreSQL store at {_postgres_address(self.pg_url or DEFAULT_POSTGRES)}{schema}"
        return f"file store at {self.file_dir}"

    def missing(self) -> bool:
        """True for a file store whose directory does not exist (so it holds no sessions). A folder
        the user may not look into is not missing: opening the store reports it."""
        if self.config is not None or self.store != "file":
            return False
        try:
            self.file_dir.stat()
        except (FileNotFoundError, NotADirectoryError):
            return True
        except OSError:
            return False
        return False


def _postgres_address(url: str) -> str:
    """The URL as the PostgreSQL store names it (user, host, port, database; never a password)."""
    try:
        from aixgo.session.postgres.options import describe_url  # noqa: PLC0415 - psycopg is optional

        return describe_url(url)
    except ImportError:
        return mask_secrets(url)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Record an option's value in ``ctx.meta`` (shared by the group's and subcommand's contexts)."""
    if value is None or param.name is None:
        return value
    source = ctx.get_parameter_source(param.name)
    if source in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
        return value
    seen: dict[str, tuple[Any, ParameterSource | None]] = ctx.meta.setdefault(_META_KEY, {})
    previous = seen.get(param.name)
    if (
        previous is not None
        and previous[1] == ParameterSource.COMMANDLINE
        and source != ParameterSource.COMMANDLINE
    ):
        return value  # e.g. AIXGO_CONFIG read again for the subcommand: the explicit value stays
    seen[param.name] = (value, source)
    return value


def store_options(func: F) -> F:
    """Add ``--config``, ``--store``, ``--base-dir`` and ``--redis-url`` to a command or group.

    The values are not passed to the function; read them with :func:`store_choice` or
    :func:`open_manager`."""
    for option in reversed([*_choice_options(), *_detail_options()]):
        func = option(func)
    return func


def _choice_options() -> list[Callable[[F], F]]:
    """The options that choose the store: a config file, or a kind and its address."""
    return [
        click.option(
            "--config",
            type=click.Path(dir_okay=False, path_type=Path),
            envvar=CONFIG_ENV,
            show_envvar=True,
            expose_value=False,
            callback=_remember,
            help="Use the session store of this config file.",
        ),
        click.option(
            "--store",
            type=click.Choice(get_args(DurableStoreKind)),
            expose_value=False,
            callback=_remember,
            help="Store kind without a config file.  [default: file]",
        ),
        click.option(
            "--base-dir",
            # readable=False: a folder the user may not read is the store's to report (one line, exit 1)
            type=click.Path(file_okay=False, readable=False, path_type=Path),
            expose_value=False,
            callback=_remember,
            help=f"Directory of the file store.  [default: {DEFAULT_BASE_DIR}]",
        ),
        click.option(
            "--redis-url",
            metavar="URL",
            expose_value=False,
            callback=_remember,
            help=f"Redis address: host:port, redis://[:password@]host:port/db, rediss://… or "
            f"unix:///path.  [default: {DEFAULT_REDIS}]",
        ),
    ]


def _detail_options() -> list[Callable[[F], F]]:
    """The options of PostgreSQL and Redis Cluster, and ``--debug``."""
    return [
        click.option(
            "--pg-url",
            metavar="URL",
            expose_value=False,
            callback=_remember,
            help="PostgreSQL URL: postgresql://[user[:password]@]host[:port]/database (the password may also "
            f"come from PGPASSWORD or ~/.pgpass).  [default: {DEFAULT_POSTGRES}]",
        ),
        click.option(
            "--pg-schema",
            metavar="NAME",
            expose_value=False,
            callback=_remember,
            help="PostgreSQL schema of aixgo's tables.  [default: aixgo]",
        ),
        click.option(
            "--redis-cluster",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=_remember,
            help="The --redis-url is a node of a Redis Cluster.",
        ),
        debug_option,
    ]



def store_choice(ctx: click.Context) -> StoreChoice:
    """The store chosen by the options of ``ctx`` and its parents. Raises :class:`click.UsageError`
    for contradictory options."""
    seen: dict[str, tuple[Any, ParameterSource | None]] = ctx.meta.get(_META_KEY, {})
    explicit = {name: seen[name][0] for name in _NAMES[1:] if name in seen}
    config_value = seen.get("config")
    if config_value is not None:
        if config_value[1] == ParameterSource.COMMANDLINE and explicit:
            flags = ", ".join("--" + name.replace("_", "-") for name in explicit)
            raise click.UsageError(f"--config cannot be combined with {flags}", ctx)
        if not explicit:  # AIXGO_CONFIG is only a default: explicit store flags override it
            return StoreChoice(config=config_value[0])
    redis_flags = "redis_url" in explicit or bool(explicit.get("redis_cluster"))
    pg_flags = "pg_url" in explicit or "pg_schema" in explicit
    if redis_flags and pg_flags:
        raise click.UsageError("--redis-url/--redis-cluster and --pg-url/--pg-schema name two stores: give one", ctx)
    store: DurableStoreKind = explicit.get("store") or ("redis" if redis_flags else "postgres" if pg_flags else "file")
    if store != "redis" and redis_flags:
        flag = "--redis-url" if "redis_url" in explicit else "--redis-cluster"
        raise click.UsageError(f"{flag} needs --store redis", ctx)
    if store != "postgres" and pg_flags:
        flag = "--pg-url" if "pg_url" in explicit else "--pg-schema"
        raise click.UsageError(f"{flag} needs --store postgres", ctx)
    if store != "file" and "base_dir" in explicit:
        raise click.UsageError(f"--base-dir applies to the file store only, not --store {store}", ctx)
    return StoreChoice(store=store, base_dir=explicit.get("base_dir"), redis_url=explicit.get("redis_url"),
                       redis_cluster=bool(explicit.get("redis_cluster")), pg_url=explicit.get("pg_url"),
                       pg_schema=explicit.get("pg_schema"))


def build_manager(choice: StoreChoice) -> Manager:
    """A :class:`Manager` on the chosen store (creates the file store's directory if needed).

    Raises :class:`~aixgo.errors.ConfigError` for a bad config file, :class:`click.BadParameter`
    for a malformed ``--redis-url``, and :class:`~aixgo.errors.AixgoError` subclasses when the
    store cannot be opened."""
    if choice.config is not None:
        from aixgo.config import build_session_manager, load_config  # noqa: PLC0415 - only with --config

        return build_session_manager(load_config(choice.config, sections={"session"}))
    if choice.store == "file":
        return stores.open_manager(StoreOptions(kind="file", base_dir=choice.file_dir))
    if choice.store == "postgres":
        try:
            options = {"schema": choice.pg_schema} if choice.pg_schema else {}
            return stores.open_manager(
                StoreOptions(kind="postgres", postgres_url=choice.pg_url or DEFAULT_POSTGRES, postgres=options)
            )
        except ValueError as exc:
            hint = "'--pg-schema'" if "schema" in str(exc) else "'--pg-url'"
            raise click.BadParameter(mask_secrets(str(exc)), param_hint=hint) from None
    try:
        redis = {"cluster": True} if choice.redis_cluster else {}
        return stores.open_manager(
            StoreOptions(kind="redis", redis_target=choice.redis_url or DEFAULT_REDIS, redis=redis)
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--redis-url'") from None


def open_manager(ctx: click.Context) -> Manager:
    """The manager for this command, closed automatically when the command ends."""
    manager = build_manager(store_choice(ctx))
    ctx.call_on_close(manager.close)
    return manager


__all__ = [
    "CONFIG_ENV",
    "DEFAULT_BASE_DIR",
    "DEFAULT_POSTGRES",
    "DEFAULT_REDIS",
    "StoreChoice",
    "build_manager",
    "open_manager",
    "store_choice",
    "store_options",
]
