"""Every fenced ``python`` block of README.md and docs/*.md runs as pasted: each in a fresh Python
process, from the repository's folder, offline. The environment is what the docs say it may be:
``OPENAI_BASE_URL``/``OPENAI_API_KEY`` point at the local OpenAI-compatible test server and
``REDIS_ADDR`` at a private ``redis-server``, ``AIXGO_URL`` at an ``aixgo serve`` of the offline
config; ``HOME`` is a temporary folder. Signatures and
sketches that are not programs are fenced as ``text``."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.serving import Served
from tests.session.postgres_server import BINDIR, postgres_server, require_postgres
from tests.session.redis_server import RedisServer, require_redis_server
from tests.support.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks() -> Iterator[tuple[str, str]]:
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text[: match.start()].count("\n") + 1
            yield f"{doc.relative_to(ROOT)}:{line}", match.group(1)


SNIPPETS = list(_blocks())


def test_the_docs_have_python_snippets() -> None:
    assert len(SNIPPETS) >= 10


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with OpenAIServer(responder=lambda body: "17 * 23 = 391.") as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AIXGO_", "REDIS_", "DATABASE_"))}
        env.update(HOME=str(tmp_path_factory.mktemp("home")), OPENAI_BASE_URL=server.base_url,
                   OPENAI_API_KEY="sk-docs-test", PYTHONPATH=str(ROOT))
        with contextlib.ExitStack() as stack:
            code = "".join(code for _, code in SNIPPETS)
            if "REDIS_ADDR" in code:
                require_redis_server()
                redis = stack.enter_context(RedisServer())
                env["REDIS_ADDR"] = f"127.0.0.1:{redis.port}"
            if "DATABASE_URL" in code and BINDIR is not None:  # docs/postgres.md: a PostgreSQL of its own
                postgres = stack.enter_context(postgres_server(settings={"fsync": "off"}))
                env["DATABASE_URL"] = postgres.url()
            if "AIXGO_URL" in code:  # docs/serve.md talks to a running `aixgo serve` of the offline config
                home = Path(env["HOME"])
                config = home / "offline.yaml"
                config.write_text((ROOT / "configs" / "offline.yaml").read_text().replace(
                    "~/.aixgo/sessions", str(home / "served")))
                served = stack.enter_context(Served(config))
                env["AIXGO_URL"] = f"{served.url}/v1"
            yield env


@pytest.mark.parametrize(("where", "code"), SNIPPETS, ids=[where for where, _ in SNIPPETS])
def test_snippet_runs_as_pasted(where: str, code: str, environment: dict[str, str]) -> None:
    if "DATABASE_URL" in code and "DATABASE_URL" not in environment:
        require_postgres()  # skips (or fails, with AIXGO_REQUIRE_POSTGRES=1)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{where} failed:\n{done.stderr[-2000:]}"
