"""The public API: every error derives from AixgoError; each package exports what users need, no internals."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

import aixgo
from aixgo import errors
from aixgo.agents import TextFormatError
from aixgo.config import InterpolationError


def test_every_public_error_derives_from_aixgo_error() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.AixgoError), name
    assert issubclass(InterpolationError, errors.ConfigError)
    assert issubclass(TextFormatError, errors.LLMResponseError)


def test_error_context_is_keyword_only() -> None:
    err = errors.SessionCorruptedError("bad record", session_id="s1", path="/x/s1.jsonl", line=3)
    assert (err.session_id, err.path, err.line, str(err)) == ("s1", "/x/s1.jsonl", 3, "/x/s1.jsonl:3: bad record")
    with pytest.raises(TypeError):
        errors.SessionCorruptedError("bad record", "s1")  # type: ignore[misc]
    with pytest.raises(TypeError):
        errors.LLMRequestError("refused", 400)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("package", "internal"),
    [
        ("aixgo.cli", "click"),
        ("aixgo.agents", "parse_docstring"),
        ("aixgo.llm", "call_with_retries"),
        ("aixgo.llm", "to_model_response"),
    ],
)
def test_internals_are_not_exported(package: str, internal: str) -> None:
    assert internal not in importlib.import_module(package).__all__


def test_transfer_and_async_twins_are_in_the_session_package() -> None:
    from aixgo import session

    assert {"export_lines", "import_lines", "aexport_lines", "aimport_lines", "MemoryBackend"} <= set(session.__all__)
    for cls in (session.Manager, session.Session):
        methods = {n for n, f in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}
        sync = {n for n in methods if not inspect.iscoroutinefunction(getattr(cls, n))}
        for name in sync:
            assert "a" + name in methods, f"{cls.__name__}.{name} has no awaitable twin"
    assert aixgo.AixgoError is errors.AixgoError


def test_session_agent_and_info_agent_agree(tmp_path: object) -> None:
    from pathlib import Path

    from aixgo.session import FileBackend, Manager

    with Manager(FileBackend(Path(str(tmp_path)))) as mgr:
        s = mgr.create("assistant", "s1")
        assert s.agent == s.agent_name == s.info.agent == "assistant"


def test_every_public_method_of_the_session_and_agents_api_is_called_by_a_test() -> None:
    """Each public method of the session and agent classes a user holds, and each public function of the
    two packages, is called by name somewhere in the tests (a ReAct turn's steps by
    tests/agents/test_turn_steps.py, as ``run`` calls them)."""
    from pathlib import Path

    import aixgo.agents
    import aixgo.session
    from aixgo.agents import BaseAgent, ReActAgent, ReActTurn, ToolRegistry
    from aixgo.session import Manager, Session, transfer
    from aixgo.session.session import HeldLease

    sources = "\n".join(path.read_text(encoding="utf-8") for path in Path(__file__).parent.rglob("*.py"))
    classes = (Manager, Session, HeldLease, BaseAgent, ReActAgent, ReActTurn, ToolRegistry)
    public = [(cls.__name__, name) for cls in classes for name, member in vars(cls).items()
              if inspect.isfunction(member) and not name.startswith("_")]
    public += [("transfer", name) for name in transfer.__all__]
    public += [(package.__name__, name) for package in (aixgo.session, aixgo.agents) for name in package.__all__
               if inspect.isfunction(getattr(package, name))]
    uncalled = [f"{owner}.{name}" for owner, name in public if not re.search(rf"\b{name}\(", sources)]
    assert not uncalled, f"no test calls {uncalled}"
