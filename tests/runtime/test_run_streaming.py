"""``aixgo run`` prints the answer as it arrives, to a pipe too (``aixgo run … | tee log``), with
tool calls as compact lines on stderr; ``--no-stream`` prints it whole. A real subprocess against the
local OpenAI-compatible server streaming with delays."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from tests.support.openai_server import OpenAIServer, call, text, tool_calls


def config(tmp_path: Path, server: OpenAIServer) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(f"session: {{base_dir: {tmp_path / 'store'}}}\nllm: {{base_url: '{server.base_url}', "
                    "api_key: sk-test, max_retries: 0}\nagents:\n  - {name: bot, model: test-model, tools: [calculator]}\n")
    return path


def test_a_pipe_gets_the_answer_live_and_plain(tmp_path: Path) -> None:
    rest_of_answer = threading.Event()  # the model sends the rest only once the first words were printed
    with OpenAIServer() as server:
        server.enqueue(tool_calls(call("calculator", {"expression": "17*23"})),
                       text("seventeen times twenty three is 391", hold=rest_of_answer))
        process = subprocess.Popen([sys.executable, "-m", "aixgo", "run", str(config(tmp_path, server)), "-m", "17*23?"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout is not None
        first = process.stdout.read(10)  # "seventeen ": returns as soon as the first word is printed
        rest_of_answer.set()
        rest, err = process.communicate(timeout=60)
        assert server.holds_timed_out == 0  # the first word reached the pipe while the model held the rest back
    assert process.returncode == 0, err
    assert (first + rest).decode() == "seventeen times twenty three is 391\n"
    assert b"\x1b" not in first + rest + err  # a pipe gets no spinner, colours or cursor moves
    assert "· calculator → 391" in err.decode()


def test_no_stream_prints_the_answer_whole(tmp_path: Path) -> None:
    with OpenAIServer() as server:
        server.enqueue(text("all at once"))
        done = subprocess.run([sys.executable, "-m", "aixgo", "run", str(config(tmp_path, server)), "-m", "hi",
                               "--no-stream"], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "all at once\n"
        assert "stream" not in server.chat_requests[-1]


def test_a_piped_chat_streams_each_answer(tmp_path: Path) -> None:
    with OpenAIServer() as server:
        server.enqueue(text("hello Ada"), text("bye"))
        done = subprocess.run([sys.executable, "-m", "aixgo", "run", str(config(tmp_path, server))],
                              input="hi\nbye\n", capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello Ada\nbye\n"  # piped: the answers alone


def test_a_llama_cpp_server_that_cannot_stream_with_tools_still_answers(tmp_path: Path) -> None:
    """The issue's reproduction: llama-cpp-python closes the stream empty when tools are offered, and
    every turn of `aixgo run` (streaming by default) failed with "ended the stream without sending
    anything"."""
    with OpenAIServer(personality="llama.cpp") as server:
        server.enqueue(tool_calls(call("calculator", {"expression": "17*23"})), text("391"), text("yes"))
        done = subprocess.run([sys.executable, "-m", "aixgo", "run", str(config(tmp_path, server))],
                              input="17*23?\nsure?\n", capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "391\nyes\n"
    assert "without sending anything" not in done.stderr


def test_a_server_that_refuses_to_stream_with_tools_still_answers(tmp_path: Path) -> None:
    with OpenAIServer(refuses_streaming_tools=True) as server:
        server.enqueue(text("hello"), text("bye"))
        done = subprocess.run([sys.executable, "-m", "aixgo", "run", str(config(tmp_path, server))],
                              input="hi\nbye\n", capture_output=True, text=True, timeout=60, check=False)
        streamed = [bool(body.get("stream")) for body in server.chat_requests]
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\nbye\n"
    assert streamed == [True, False, False]  # refused once, then asked whole from then on
