"""A throwaway PostgreSQL server for tests and benchmarks: ``initdb`` + ``pg_ctl`` from Debian's
``postgresql`` package, on a free loopback port with its socket in a temporary folder (never the
machine's own server on 5432).

The server runs as a child of the test process and gets SIGQUIT (an immediate shutdown) if that
process dies, so a killed test run leaves no server behind; ``pg_ctl stop`` stops (or, with ``-m
immediate``, crashes) it. PostgreSQL refuses to run as root, and the tests (and CI) do run as root:
then every server command runs as an unprivileged user (``postgres`` if it exists, else ``nobody``) through ``setpriv``, in a
temporary folder that user owns. ``require_postgres()`` skips the calling test when the binaries (or
psycopg) are missing, or fails it when ``AIXGO_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.session.redis_server import free_port


def _find_bindir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(os.path.realpath(initdb)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


BINDIR = _find_bindir()


def _missing(problem: str) -> None:
    import pytest

    if os.environ.get("AIXGO_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"AIXGO_REQUIRE_POSTGRES=1 but {problem}", pytrace=False)
    pytest.skip(f"PostgreSQL test skipped: {problem} (set AIXGO_REQUIRE_POSTGRES=1 to make this a failure)")


def require_psycopg() -> None:
    """Skips (or, with ``AIXGO_REQUIRE_POSTGRES=1``, fails) the test when psycopg is not installed."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        _missing("psycopg is not installed (pip install -e '.[postgres]')")


def require_postgres() -> Path:
    """The folder of ``initdb``/``pg_ctl``; skips (or fails) the test when they or psycopg are missing."""
    require_psycopg()
    if BINDIR is None or not (BINDIR / "pg_ctl").exists():
        _missing("PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)")
    assert BINDIR is not None
    return BINDIR


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: None (ourselves) unless we are root, which PostgreSQL refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and there is neither a 'postgres' nor a 'nobody' user to run PostgreSQL")


class PostgresServer:
    """One PostgreSQL server on 127.0.0.1 (and a Unix socket in its folder), superuser ``aixgo``.

    ``settings`` are extra ``-c name=value`` server settings. The server is durable as configured
    (``fsync`` on by default) so a killed server comes back with every committed transaction.
    """

    def __init__(self, *, settings: dict[str, str] | None = None, password: str | None = None) -> None:
        self.bindir = BINDIR or Path("/usr/lib/postgresql/15/bin")
        self.user = _server_user()
        self.dir = Path(tempfile.mkdtemp(prefix="aixgo-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.password = password
        self.proc: subprocess.Popen[bytes] | None = None
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.dir),
            "max_connections": "200",
            "shared_buffers": "64MB",
            **(settings or {}),
        }
        if self.user is not None:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)

    # -- running commands as the server's user ------------------------------------------------------

    def _as_user(self, args: list[str], *, die_with_us: bool = False) -> list[str]:
        """``args`` run as the server's user; with ``die_with_us``, the process gets SIGQUIT (PostgreSQL's
        immediate shutdown) when the test process dies, so a killed test run leaves no server behind."""
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            return args if self.user is None else ["runuser", "-u", self.user.pw_name, "--", *args]
        options = ["--pdeathsig", "QUIT"] if die_with_us else []
        if self.user is not None:
            options += [f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}", "--clear-groups"]
        return [setpriv, *options, "--", *args] if options else args

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(self.dir)}
        result = subprocess.run(
            self._as_user([str(self.bindir / args[0]), *args[1:]]),
            capture_output=True, text=True, timeout=timeout, env=env, cwd=self.dir, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            log = self.log_tail()
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}\n{log}")
        return result

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.dir / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- lifecycle ---------------------------------------------------------------------------------

    def init(self) -> PostgresServer:
        args = ["initdb", "-D", str(self.data), "-U", "aixgo", "-E", "UTF8", "--no-locale", "--no-sync"]
        if self.password is None:
            args += ["-A", "trust"]
        else:
            pwfile = self.dir / "pwfile"
            pwfile.write_text(self.password + "\n")
            if self.user is not None:
                os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
            args += ["-A", "scram-sha-256", f"--pwfile={pwfile}"]
        self._run(*args)
        return self

    def start(self, timeout: float = 60) -> PostgresServer:
        """Start the server as a child of this process (so it dies with it) and wait until it answers."""
        import psycopg

        settings = [arg for name, value in self.settings.items() for arg in ("-c", f"{name}={value}")]
        args = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port), *settings]
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(self.dir)}
        with open(self.dir / "server.log", "ab") as log:
            self.proc = subprocess.Popen(self._as_user(args, die_with_us=True), stdout=log, stderr=log, env=env,
                                         cwd=self.dir, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.socket_url(), connect_timeout=2, password=self.password):
                    return self
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start (exit code {self.proc.poll()}):\n{self.log_tail()}") from None
                time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m MODE``: ``immediate`` is a crash (no checkpoint; recovery replays the WAL)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        if self.proc is not None:
            self.proc.wait(timeout=60)
            self.proc = None

    def restart(self) -> None:
        self.stop("immediate")
        self.start()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> PostgresServer:
        self.init().start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- addresses ---------------------------------------------------------------------------------

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        """A ``postgresql://`` URL over TCP on 127.0.0.1."""
        auth = "aixgo" if password is None else f"aixgo:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def socket_url(self, database: str = "postgres") -> str:
        """A URL over the Unix socket in the server's folder (what the fast tests use)."""
        return f"postgresql://aixgo@/{database}?host={self.dir}&port={self.port}"

    def connect(self, database: str = "postgres", **kwargs: Any) -> Any:
        """A plain psycopg connection (autocommit) for setting up and inspecting tests."""
        import psycopg

        kwargs.setdefault("password", self.password)
        return psycopg.connect(self.socket_url(database), autocommit=True, **kwargs)

    def create_database(self, name: str | None = None) -> str:
        """A fresh database; returns its name."""
        name = name or "t" + uuid.uuid4().hex[:12]
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name


@contextlib.contextmanager
def postgres_server(**kwargs: Any) -> Iterator[PostgresServer]:
    """A started :class:`PostgresServer`, stopped and removed afterwards."""
    require_postgres()
    with PostgresServer(**kwargs) as server:
        yield server


@contextlib.contextmanager
def pg_backend_factory(url: str, schema: str) -> Iterator[Any]:
    """A callable making ``PostgresBackend(url, PostgresOptions(schema=schema, **overrides))``; every
    backend it made is closed afterwards."""
    from aixgo.session import PostgresBackend, PostgresOptions

    made: list[Any] = []

    def make(**overrides: Any) -> Any:
        options = {"schema": schema, "pool_size": 1, **overrides}
        backend = PostgresBackend(overrides.pop("url", url), PostgresOptions(**{k: v for k, v in options.items() if k != "url"}))
        made.append(backend)
        return backend

    try:
        yield make
    finally:
        for backend in made:
            with contextlib.suppress(Exception):
                backend.close()


def tamper_pg_entry(server: PostgresServer, schema: str, entry_id: str) -> None:
    """Change one stored entry's bytes behind the store's back (its chain hash column stays)."""
    with server.connect() as conn:
        done = conn.execute(
            f'UPDATE "{schema}".entries SET record = replace(record, \'"content":"\', \'"content":"tampered \') '
            "WHERE id = %s",
            (entry_id,),
        )
        assert done.rowcount == 1
