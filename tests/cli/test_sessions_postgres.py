"""``aixgo sessions`` on a real PostgreSQL: ``--pg-url``, ``migrate [--dry-run]``, a schema newer than
this aixgo, ``store: postgres`` in YAML, and ``copy`` moving sessions file -> PostgreSQL -> Redis ->
file byte for byte, verified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aixgo.config import build_session_manager, load_config
from aixgo.session import PostgresBackend
from aixgo.session.postgres.statements import LATEST_VERSION
from tests.cli.conftest import SeededStore, invoke

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(pg_server: Any) -> str:
    """A fresh database of the test session's PostgreSQL server, for one test."""
    return pg_server.url(pg_server.create_database())


def _pg(url: str, *args: str) -> list[str]:
    return ["sessions", *args, "--pg-url", url]


def _tables(pg_server: Any, url: str, schema: str = "aixgo") -> list[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (schema,)).fetchall()
    return [name for (name,) in rows]


def test_migrate_dry_run_prints_the_sql_and_changes_nothing(sessions_runner: CliRunner, pg_server: Any, pg_url: str) -> None:
    dry = invoke(sessions_runner, _pg(pg_url, "migrate", "--dry-run"))
    assert dry.exit_code == 0, dry.output
    assert "at version -1, this aixgo needs 1" in dry.stdout
    assert 'CREATE TABLE "aixgo".entries' in dry.stdout and "CREATE UNIQUE INDEX entries_id" in dry.stdout
    assert 'INSERT INTO "aixgo".aixgo_migrations (version, name) VALUES (1, \'initial\');' in dry.stdout
    assert _tables(pg_server, pg_url) == []  # nothing ran

    done = invoke(sessions_runner, _pg(pg_url, "migrate"))
    assert done.exit_code == 0, done.output
    assert "applied 2 migrations" in done.stderr and "001_initial" in done.stderr
    assert _tables(pg_server, pg_url) == ["aixgo_migrations", "checkpoints", "deleted", "entries", "leases", "sessions"]
    again = invoke(sessions_runner, _pg(pg_url, "migrate", "--dry-run"))
    assert again.exit_code == 0 and "up to date (version 1)" in again.stderr and again.stdout == ""


def test_a_newer_schema_is_a_clear_error(sessions_runner: CliRunner, pg_url: str) -> None:
    import psycopg

    assert invoke(sessions_runner, _pg(pg_url, "migrate")).exit_code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO aixgo.aixgo_migrations (version, name) VALUES (%s, 'from_the_future')",
                     (LATEST_VERSION + 1,))
    for args in (["list"], ["migrate"], ["migrate", "--dry-run"]):
        result = invoke(sessions_runner, _pg(pg_url, *args))
        assert result.exit_code == 1, result.output
        assert f"is at version {LATEST_VERSION + 1}, newer than this aixgo understands ({LATEST_VERSION})" in result.stderr
        assert "upgrade aixgo" in result.stderr and "Traceback" not in result.output


def test_without_auto_migrate_a_missing_schema_names_the_command(pg_url: str) -> None:
    from aixgo.errors import StoreError
    from aixgo.session import Manager, PostgresOptions

    mgr = Manager(PostgresBackend(pg_url, PostgresOptions(auto_migrate=False)))
    with pytest.raises(StoreError, match="run `aixgo sessions migrate`"):
        mgr.list()
    mgr.close()


def test_commands_on_postgres(sessions_runner: CliRunner, seeded_store: SeededStore, pg_url: str) -> None:
    for session_id in ("chat-1", "chat-2", "code-1"):
        data = invoke(sessions_runner, seeded_store.args("export", session_id)).stdout_bytes
        imported = invoke(sessions_runner, _pg(pg_url, "import", "-"), input=data)
        assert imported.exit_code == 0, imported.output
        assert "into PostgreSQL store at postgresql://aixgo@127.0.0.1" in imported.stderr
    listed = invoke(sessions_runner, _pg(pg_url, "list", "--json"))
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.count('"id"') == 3
    shown = invoke(sessions_runner, _pg(pg_url, "show", "chat-1"))
    assert "It is 21" not in shown.stdout and "Let me ask differently." in shown.stdout  # the restore holds
    restored = invoke(sessions_runner, _pg(pg_url, "restore", "chat-1", seeded_store.cp_answer))
    assert restored.exit_code == 0, restored.output
    assert "It is 21 °C in Zürich." in invoke(sessions_runner, _pg(pg_url, "show", "chat-1")).stdout
    deleted = invoke(sessions_runner, _pg(pg_url, "delete", "chat-2", "--yes"))
    assert deleted.exit_code == 0, deleted.output
    missing = invoke(sessions_runner, _pg(pg_url, "show", "chat-2"))
    assert missing.exit_code == 1 and "not found in PostgreSQL at postgresql://aixgo@127.0.0.1" in missing.stderr


def test_store_flags_that_contradict_are_usage_errors(sessions_runner: CliRunner, tmp_path: Path) -> None:
    cases = [
        (["sessions", "list", "--pg-url", "postgresql://x/y", "--redis-url", "localhost:1"], "name two stores"),
        (["sessions", "list", "--store", "file", "--pg-url", "postgresql://x/y"], "--pg-url needs --store postgres"),
        (["sessions", "list", "--pg-url", "postgresql://x/y", "--base-dir", str(tmp_path)], "file store only"),
        (["sessions", "list", "--pg-url", "mysql://x/y"], "not a PostgreSQL URL"),
        (["sessions", "list", "--pg-url", "postgresql://x/y", "--pg-schema", "bad-name"], "plain identifier"),
    ]
    for args, said in cases:
        result = invoke(sessions_runner, args)
        assert result.exit_code == 2, (args, result.output)
        assert said in result.output, (args, result.output)


def test_an_unreachable_server_is_one_line(sessions_runner: CliRunner) -> None:
    from tests.session.redis_server import free_port

    result = invoke(sessions_runner, _pg(f"postgresql://aixgo@127.0.0.1:{free_port()}/x", "list"))
    assert result.exit_code == 1
    assert "cannot reach PostgreSQL at postgresql://aixgo@127.0.0.1" in result.stderr
    assert "Traceback" not in result.output


def test_store_postgres_in_yaml(pg_url: str, tmp_path: Path, sessions_runner: CliRunner) -> None:
    config = tmp_path / "app.yaml"
    config.write_text(
        "session:\n  store: postgres\n  ttl: 30d\n  postgres:\n"
        f"    url: '{pg_url}'\n    schema: app_sessions\n    pool_size: 1\n    pool_max: 4\n    pool_timeout: 3s\n"
        "    connect_timeout: 2s\n    statement_timeout: 1500ms\n    prepared_statements: false\n    auto_migrate: true\n"
        "llm: {provider: scripted, script: ['Hello from PostgreSQL!']}\nagents:\n  - {name: a, model: m}\n"
    )
    loaded = load_config(config)
    assert loaded.session.postgres is not None and loaded.session.postgres.statement_timeout == 1.5
    mgr = build_session_manager(loaded)
    backend = mgr.backend
    assert isinstance(backend, PostgresBackend)
    options = backend.options
    assert (options.schema, options.pool_size, options.pool_max, options.pool_timeout) == ("app_sessions", 1, 4, 3.0)
    assert (options.connect_timeout, options.statement_timeout, options.prepared_statements) == (2.0, 1.5, False)
    assert options.ttl is not None and options.ttl.days == 30
    mgr.close()
    assert invoke(sessions_runner, ["validate", str(config)]).exit_code == 0
    ran = invoke(sessions_runner, ["run", str(config), "--session", "yaml-1", "-m", "hi"])
    assert ran.exit_code == 0, ran.output
    assert "Hello from PostgreSQL!" in ran.stdout
    shown = invoke(sessions_runner, ["sessions", "--config", str(config), "show", "yaml-1"])
    assert "Hello from PostgreSQL!" in shown.stdout


def test_a_misspelled_postgres_setting_is_reported(tmp_path: Path, sessions_runner: CliRunner) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("session:\n  store: postgres\n  postgres:\n    url: 'postgresql://h/db'\n    pool_sise: 3\n"
                      "agents:\n  - {name: a, model: m}\n")
    result = invoke(sessions_runner, ["validate", str(config)])
    assert result.exit_code == 2
    assert "did you mean 'pool_size'?" in result.output


@pytest.mark.redis
def test_copy_between_file_postgres_and_redis_is_byte_identical(
    sessions_runner: CliRunner, seeded_store: SeededStore, pg_url: str, cli_redis_url: str, tmp_path: Path
) -> None:
    ids = ("chat-1", "chat-2", "code-1")
    original = {sid: invoke(sessions_runner, seeded_store.args("export", sid)).stdout_bytes for sid in ids}
    back_dir = tmp_path / "back"
    hops = [(str(seeded_store.base_dir), pg_url), (pg_url, cli_redis_url), (cli_redis_url, str(back_dir))]
    for source, target in hops:
        copied = invoke(sessions_runner, ["sessions", "copy", "--from", source, "--to", target])
        assert copied.exit_code == 0, copied.output
        assert "copied 3 sessions" in copied.stderr and copied.stderr.count("verified") == 3
    exports = {
        "postgres": lambda sid: invoke(sessions_runner, _pg(pg_url, "export", sid)),
        "redis": lambda sid: invoke(sessions_runner, ["sessions", "export", sid, "--redis-url", cli_redis_url]),
        "file": lambda sid: invoke(sessions_runner, ["sessions", "export", sid, "--base-dir", str(back_dir)]),
    }
    for name, export in exports.items():
        for sid in ids:
            assert export(sid).stdout_bytes == original[sid], (name, sid)
    # checksums verify on restore in PostgreSQL after the trip
    assert invoke(sessions_runner, _pg(pg_url, "restore", "chat-1", seeded_store.cp_answer)).exit_code == 0
    # a second copy finds them there: an error per session, unless --skip-existing
    again = invoke(sessions_runner, ["sessions", "copy", "--from", str(seeded_store.base_dir), "--to", pg_url])
    assert again.exit_code == 1 and "already exists" in again.stderr
    skipped = invoke(sessions_runner, ["sessions", "copy", "--from", str(seeded_store.base_dir), "--to", pg_url,
                                       "--skip-existing", "chat-2"])
    assert skipped.exit_code == 0 and "1 already there" in skipped.stderr
