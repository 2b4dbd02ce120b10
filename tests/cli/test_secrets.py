"""The Redis and PostgreSQL passwords never appear in what aixgo prints or logs, CLI included: every sessions
command naming the store, a failed authentication, debug logs, and config errors (a password of the
wrong type, a misspelled ``pasword:`` key). A real redis-server with ``requirepass``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.session.redis_server import RedisServer, require_redis_server

SECRET = "S3cretPW-9f8e7d"


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    require_redis_server()
    with RedisServer(password=SECRET) as server:
        yield server


def aixgo(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "aixgo", *args], capture_output=True, text=True, timeout=60,
                          input=stdin, check=False)
    return done.stdout + done.stderr


@pytest.mark.redis
def test_no_command_prints_the_password(redis: RedisServer, tmp_path: Path) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{redis.port}/0"
    wrong = f"redis://:wrong-{SECRET}@127.0.0.1:{redis.port}/0"
    export = tmp_path / "s.jsonl"
    outputs = [
        aixgo("sessions", "--redis-url", url, "list"),  # empty store: "no sessions in …"
        aixgo("--log-level", "debug", "sessions", "--redis-url", url, "list"),
        aixgo("sessions", "--redis-url", url, "show", "nope"),
        aixgo("sessions", "--redis-url", wrong, "list"),  # refused authentication
        aixgo("sessions", "--redis-url", url, "prune", "--older-than", "1d", "--dry-run"),
        aixgo("sessions", "--redis-url", url, "search", "hello"),
    ]
    config = tmp_path / "app.yaml"
    config.write_text(f"session:\n  store: redis\n  redis:\n    url: '{url}'\nllm: {{provider: scripted}}\n"
                      "agents:\n  - {name: a, model: m}\n")
    outputs.append(aixgo("run", str(config), "--session", "s", "-m", "hello"))
    outputs.append(aixgo("sessions", "--redis-url", url, "export", "s", "-o", str(export)))
    outputs.append(aixgo("sessions", "--redis-url", url, "import", str(export), "--new-id"))  # "imported … into …"
    outputs.append(aixgo("sessions", "--redis-url", url, "delete", "s", "--yes"))
    outputs.append(aixgo("validate", str(config)))
    assert "imported session" in outputs[-3] and "no sessions in Redis store at redis://***@" in outputs[0]
    for output in outputs:
        assert SECRET not in output, output


@pytest.mark.parametrize(("yaml", "said"), [
    ("    password: 987654321\n", "found a number (hidden)"),  # the wrong type: the value is not echoed
    ("    pasword: 987654321\n", "did you mean 'password'?"),  # a typo: nor is a misspelled key's
])
def test_config_errors_do_not_echo_secrets(tmp_path: Path, yaml: str, said: str) -> None:
    config = tmp_path / "app.yaml"
    config.write_text("session:\n  store: redis\n  redis:\n" + yaml + "agents:\n  - {name: a, model: m}\n")
    output = aixgo("validate", str(config))
    assert said in output and "987654321" not in output


# An address whose scheme is missing or mistyped still carries the password: it must never be echoed,
# and the command must fail as a usage error instead of trying to reach a host named after it.
MALFORMED_ADDRESSES = [
    f":{SECRET}@127.0.0.1:6392",
    f"user:{SECRET}@127.0.0.1:6392",
    f"redis:/:{SECRET}@127.0.0.1:6392",
    f"redis//:{SECRET}@127.0.0.1:6392",
    f"redis:///:{SECRET}@127.0.0.1:6392",
    f"redis:{SECRET}@127.0.0.1:6392",
    f"redsi://:{SECRET}@127.0.0.1:6392",
    f"{SECRET}@127.0.0.1:6392",
]


def aixgo_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aixgo", *args], capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.mark.parametrize("address", MALFORMED_ADDRESSES)
def test_a_malformed_redis_address_is_refused_without_printing_the_password(address: str) -> None:
    done = aixgo_run("sessions", "--redis-url", address, "list")
    output = done.stdout + done.stderr
    assert SECRET not in output, output
    assert done.returncode == 2 and "not a Redis address" in output, output
    assert "Traceback" not in output


@pytest.mark.parametrize("address", MALFORMED_ADDRESSES)
def test_a_malformed_redis_address_in_a_config_is_reported_without_the_password(
    tmp_path: Path, address: str
) -> None:
    for key in ("url", "addr"):
        config = tmp_path / "app.yaml"
        config.write_text(f"session:\n  store: redis\n  redis:\n    {key}: '{address}'\n"
                          "agents:\n  - {name: a, model: m}\n")
        done = aixgo_run("validate", str(config))
        output = done.stdout + done.stderr
        assert SECRET not in output, output
        assert done.returncode != 0 and f"session.redis.{key}" in output, output


def test_the_python_api_refuses_a_malformed_address_without_the_password() -> None:
    from aixgo import session

    for address in MALFORMED_ADDRESSES:
        with pytest.raises(ValueError, match="not a Redis address") as caught:
            session.RedisBackend(address)
        assert SECRET not in str(caught.value)


@pytest.mark.parametrize("database", ["/abc", "/-1", "/0/1", "/1x", "/ 1"])
def test_a_database_that_is_not_a_number_is_an_error(tmp_path: Path, database: str) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:6392{database}"
    done = aixgo_run("sessions", "--redis-url", url, "list")
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "database" in output and SECRET not in output, output
    config = tmp_path / "app.yaml"
    config.write_text(f"session:\n  store: redis\n  redis:\n    url: '{url}'\nagents:\n  - {{name: a, model: m}}\n")
    done = aixgo_run("validate", str(config))
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "database" in output and SECRET not in output, output


# -- PostgreSQL: a server that asks for a password (scram-sha-256) ------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[Any]:
    from tests.session.postgres_server import postgres_server

    with postgres_server(password=SECRET, settings={"fsync": "off"}) as server:
        yield server


@pytest.mark.postgres
def test_no_command_prints_the_postgres_password(postgres: Any, tmp_path: Path) -> None:
    url = postgres.url(password=SECRET)
    in_query = f"postgresql://aixgo@127.0.0.1:{postgres.port}/postgres?password={SECRET}"
    wrong = postgres.url(password=f"wrong-{SECRET}")
    export = tmp_path / "s.jsonl"
    outputs = [
        aixgo("sessions", "--pg-url", url, "list"),  # empty store: "no sessions in …"
        aixgo("--log-level", "debug", "sessions", "--pg-url", url, "list"),
        aixgo("sessions", "--pg-url", in_query, "list"),
        aixgo("sessions", "--pg-url", url, "show", "nope"),
        aixgo("sessions", "--pg-url", wrong, "list"),  # refused authentication
        aixgo("sessions", "--pg-url", url, "migrate", "--dry-run"),
        aixgo("sessions", "--pg-url", url, "prune", "--older-than", "1d", "--dry-run"),
    ]
    config = tmp_path / "app.yaml"
    config.write_text(f"session:\n  store: postgres\n  postgres:\n    url: '{url}'\nllm: {{provider: scripted}}\n"
                      "agents:\n  - {name: a, model: m}\n")
    outputs.append(aixgo("--log-level", "debug", "run", str(config), "--session", "s", "-m", "hello"))
    outputs.append(aixgo("sessions", "--pg-url", url, "export", "s", "-o", str(export)))
    outputs.append(aixgo("sessions", "--pg-url", url, "import", str(export), "--new-id"))
    outputs.append(aixgo("sessions", "copy", "--from", url, "--to", str(tmp_path / "files")))
    outputs.append(aixgo("sessions", "--pg-url", url, "delete", "s", "--yes"))
    outputs.append(aixgo("validate", str(config)))
    assert "refused to authenticate" in outputs[4], outputs[4]
    assert "imported session" in outputs[-4] and "no sessions in PostgreSQL store at postgresql://aixgo@" in outputs[0]
    for output in outputs:
        assert SECRET not in output, output


@pytest.mark.postgres
def test_the_postgres_backend_never_shows_its_password(postgres: Any) -> None:
    from aixgo.errors import StoreConnectionError
    from aixgo.session import Manager, PostgresBackend, PostgresOptions

    backend = PostgresBackend(postgres.url(password=SECRET))
    assert SECRET not in repr(backend) and SECRET not in backend.address
    wrong = Manager(PostgresBackend(postgres.url(password="x" + SECRET), PostgresOptions(connect_timeout=2)))
    with pytest.raises(StoreConnectionError) as caught:
        wrong.list()
    assert SECRET not in str(caught.value) and "refused to authenticate" in str(caught.value)
    wrong.close()
    backend.close()


@pytest.mark.parametrize("url", ["postgresql://u:987654321@h/db", "postgresql://u@h/db?password=987654321"])
def test_postgres_config_never_shows_its_password(tmp_path: Path, url: str) -> None:
    from aixgo.config import load_config

    config = tmp_path / "app.yaml"
    config.write_text(f"session:\n  store: postgres\n  postgres:\n    url: '{url}'\n    pool_max: 0\n"
                      "agents:\n  - {name: a, model: m}\n")
    output = aixgo("validate", str(config))
    assert "pool_max" in output and "987654321" not in output
    config.write_text(f"session:\n  store: postgres\n  postgres:\n    url: '{url}'\nagents:\n  - {{name: a, model: m}}\n")
    loaded = load_config(config)
    assert "987654321" not in repr(loaded) and "987654321" not in repr(loaded.session.postgres)
    assert "987654321" in loaded.session.postgres.url  # type: ignore[union-attr]
