"""Starting ``aixgo serve`` as a user would: a real process on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.session.redis_server import free_port
from tests.support.openai_server import OpenAIServer


def echo(body: dict[str, Any]) -> str:
    """An upstream model that answers each message with what it saw: the user messages, in order."""
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    return f"answer to {users[-1]} (after {len(users) - 1} earlier)"


def write_config(tmp_path: Path, upstream: OpenAIServer, session: str = "", extra: str = "") -> Path:
    path = tmp_path / f"serve-{free_port()}.yaml"
    store = session or f"session: {{base_dir: {tmp_path / 'store'}, fsync: never}}"
    path.write_text(f"{store}\nllm: {{base_url: '{upstream.base_url}', api_key: sk-upstream, max_retries: 0}}\n"
                    f"agents:\n  - {{name: bot, model: test-model}}\n  - {{name: other, model: test-model}}\n{extra}")
    return path


class Served:
    """``aixgo serve CONFIG`` running; ``url`` is its base URL."""

    def __init__(
        self, config: Path, *, env: dict[str, str] | None = None, host: str = "127.0.0.1", options: tuple[str, ...] = ()
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, **(env or {})}
        # the server's log goes to a file: a pipe nobody reads while the test runs would fill up and
        # block the server on its next log line
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the server; closed by stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aixgo", *options, "serve", str(config), "--host", host, "--port", str(self.port)],
            stdout=self.log, stderr=self.log, env=environment, text=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"aixgo serve exited: {self._output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("aixgo serve did not answer /healthz within 20 s")

    def _output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> tuple[int, str]:
        """Stop the server; its exit code and everything it printed."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        output = self._output() if not self.log.closed else ""
        self.log.close()
        return self.process.returncode, output

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def no_traceback(text: str) -> bool:
    return "Traceback" not in text and not re.search(r'File ".*", line \d+', text)
