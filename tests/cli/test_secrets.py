"""The Redis password never appears in what aixgo prints or logs, CLI included: every sessions
command naming the store, a failed authentication, debug logs, and config errors (a password of the
wrong type, a misspelled ``pasword:`` key). A real redis-server with ``requirepass``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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
