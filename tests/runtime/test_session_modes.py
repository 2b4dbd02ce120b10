"""Per-agent ``session_mode`` and ``session.enabled: false``, as configs written for the Go aixgo use
them: from the Python API (``Runtime.from_config``) and from ``aixgo run``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aixgo.config import load_config
from aixgo.runtime import Runtime
from aixgo.testing import FunctionModel

CONFIG = """
session:
  enabled: {enabled}
  base_dir: "{base_dir}"
llm:
  provider: scripted
agents:
  - name: remembers
    model: demo
  - name: lightweight
    model: demo
    session_mode: lightweight
  - name: stateless
    model: demo
    session_mode: disabled
"""


def write(tmp_path: Path, enabled: bool = True, base_dir: str = "store") -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(CONFIG.format(enabled=str(enabled).lower(), base_dir=base_dir))
    return path


def recording(runtime: Runtime, agent: str) -> FunctionModel:
    """Give ``agent`` a model that records its requests."""
    model = FunctionModel(lambda messages, tools, settings: "noted")
    runtime.agent(agent).model = model  # type: ignore[attr-defined]
    return model


def users_sent(model: FunctionModel) -> list[str]:
    return [m["content"] for m in model.requests[-1].messages if m["role"] == "user"]


def history_sent(runtime: Runtime, agent: str, session_id: str) -> list[str]:
    """Two turns; the user messages the second turn's request held."""
    model = recording(runtime, agent)
    runtime.call_with_session(agent, "My name is Ada.", session_id)
    runtime.call_with_session(agent, "What is my name?", session_id)
    return users_sent(model)


def test_each_mode_remembers_as_it_says(tmp_path: Path) -> None:
    path = write(tmp_path)
    with Runtime.from_config(path) as runtime:
        assert history_sent(runtime, "remembers", "s1") == ["My name is Ada.", "What is my name?"]
        assert history_sent(runtime, "lightweight", "s2") == ["My name is Ada.", "What is my name?"]
        assert history_sent(runtime, "stateless", "s3") == ["What is my name?"]
        stored = {info.id for info in runtime.session_manager.list()}
    assert stored == {"s1"}  # lightweight and stateless agents wrote nothing to the store
    with Runtime.from_config(path) as runtime:  # a new runtime: only the store remembers
        model = recording(runtime, "remembers")
        runtime.call_with_session("remembers", "And now?", "s1")
        assert users_sent(model) == ["My name is Ada.", "What is my name?", "And now?"]


def test_a_lightweight_session_lasts_as_long_as_the_process(tmp_path: Path) -> None:
    path = write(tmp_path)
    with Runtime.from_config(path) as runtime:
        recording(runtime, "lightweight")
        runtime.call_with_session("lightweight", "remember 7", "s")
    with Runtime.from_config(path) as runtime:
        model = recording(runtime, "lightweight")
        runtime.call_with_session("lightweight", "what number?", "s")
        assert users_sent(model) == ["what number?"]


def test_sessions_disabled_runs_every_agent_without_memory(tmp_path: Path) -> None:
    path = write(tmp_path, enabled=False)
    with Runtime.from_config(path) as runtime:
        assert history_sent(runtime, "remembers", "s1") == ["What is my name?"]
    assert not (tmp_path / "store").exists()  # no store was built


def test_an_empty_base_dir_means_the_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, base_dir=""))
    assert config.session.base_dir == Path("~/.aixgo/sessions").expanduser()


def test_settings_without_effect_are_warnings_that_validate_prints(tmp_path: Path) -> None:
    path = tmp_path / "go.yaml"
    path.write_text("session:\n  checkpoint:\n    interval: 5m\nagents:\n  - name: a\n    model: m\n")
    config = load_config(path)  # loads: the Go aixgo accepted it
    assert len(config.warnings) == 1 and "interval has no effect without auto_save" in config.warnings[0]
    assert f"{path}:3:" in config.warnings[0]
    done = subprocess.run([sys.executable, "-m", "aixgo", "validate", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "warning:" in done.stderr and "interval has no effect" in done.stderr and "ok" in done.stdout


@pytest.mark.parametrize("mode", ["disabled", "lightweight"])
def test_aixgo_run_works_without_a_store(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "app.yaml"
    enabled = "false" if mode == "disabled" else "true"
    path.write_text(f"session:\n  enabled: {enabled}\n  base_dir: store\nllm:\n  provider: scripted\n"
                    f"agents:\n  - name: a\n    model: demo\n    tools: [calculator]\n"
                    f"    session_mode: {mode}\n")
    done = subprocess.run([sys.executable, "-m", "aixgo", "run", str(path), "-m", "What is 6 * 7?"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "42" in done.stdout
    assert "set_session_manager" not in done.stderr
    assert not (tmp_path / "store").exists()


def test_aixgo_run_says_what_a_memoryless_chat_is(tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text("session:\n  enabled: false\nllm:\n  provider: scripted\nagents:\n  - name: a\n    model: demo\n")
    chat = subprocess.run([sys.executable, "-m", "aixgo", "run", str(path)], input="hello\n",
                          capture_output=True, text=True, timeout=60, check=False)
    assert chat.returncode == 0, chat.stderr
    assert "no memory" in chat.stderr and "resume with" not in chat.stderr
    resume = subprocess.run([sys.executable, "-m", "aixgo", "run", str(path), "-c", "-m", "hi"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert resume.returncode == 2 and "stores no sessions" in resume.stderr and "Traceback" not in resume.stderr
