"""``aixgo ui CONFIG``: the console served on 127.0.0.1 and opened in the user's browser ($BROWSER here: a
script that writes down the address it was given)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server.serving import write_config
from tests.session.redis_server import free_port
from tests.support.openai_server import OpenAIServer


def test_aixgo_ui_serves_the_console_on_loopback_and_opens_it(tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    script = tmp_path / "browser.py"
    script.write_text(f"import sys\nopen({str(opened)!r}, 'w').write(sys.argv[1])\n")
    port = free_port()
    with OpenAIServer() as upstream:
        config = write_config(tmp_path, upstream)
        env = {**os.environ, "BROWSER": f"{sys.executable} {script} %s"}
        process = subprocess.Popen([sys.executable, "-m", "aixgo", "ui", str(config), "--port", str(port)],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 30
            while not (opened.exists() and opened.read_text()) and time.monotonic() < deadline:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.05)
            url = opened.read_text()
            assert url == f"http://127.0.0.1:{port}/ui"
            page = httpx.get(url)
            assert page.status_code == 200 and "aixgo console" in page.text
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
    assert f"the console is at http://127.0.0.1:{port}/ui" in output
    assert "Traceback" not in output
