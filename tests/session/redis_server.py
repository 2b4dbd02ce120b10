"""A throwaway ``redis-server`` for tests and benchmarks, plus code run in child processes.

:class:`RedisServer` starts its own server on a free loopback port in a temporary directory (never
6379), waits until it answers PING, and stops it. ``require_redis_server()`` skips the calling test
when ``redis-server`` (or redis-py) is missing, or fails it when ``AIXGO_REQUIRE_REDIS=1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REDIS_SERVER = shutil.which("redis-server")


def _missing(problem: str) -> None:
    import pytest

    if os.environ.get("AIXGO_REQUIRE_REDIS") == "1":
        pytest.fail(f"AIXGO_REQUIRE_REDIS=1 but {problem}", pytrace=False)
    pytest.skip(f"Redis test skipped: {problem} (set AIXGO_REQUIRE_REDIS=1 to make this a failure)")


def require_redis_py() -> None:
    """Skips (or, with ``AIXGO_REQUIRE_REDIS=1``, fails) the test when redis-py is not installed."""
    try:
        import redis  # noqa: F401
    except ImportError:
        _missing("redis-py is not installed (pip install -e '.[redis]')")


def require_redis_server() -> str:
    """The path of ``redis-server``; skips (or, with ``AIXGO_REQUIRE_REDIS=1``, fails) the test when it
    or redis-py is missing."""
    require_redis_py()
    if REDIS_SERVER is None:
        _missing("redis-server is not installed (apt-get install redis-server)")
    assert REDIS_SERVER is not None
    return REDIS_SERVER


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now: never 6379, and at most 55535 so a
    Cluster node's bus port (port + 10000) is valid too."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != 6379 and port <= 55535:
            return port


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1.

    ``persistent=True`` turns on the append-only file with ``appendfsync always`` so a SIGKILLed
    server comes back with every acknowledged write (for the restart tests); otherwise nothing is
    saved. ``password`` sets ``--requirepass``.
    """

    def __init__(
        self,
        *,
        password: str | None = None,
        persistent: bool = False,
        extra_args: list[str] | None = None,
        binary: str | None = None,
    ) -> None:
        self.binary = binary or REDIS_SERVER or "redis-server"
        self.password = password
        self.persistent = persistent
        self.extra_args = list(extra_args or [])
        self.dir = Path(tempfile.mkdtemp(prefix="aixgo-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persistent else "no",
            "--appendfsync",
            "always",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        if self.password is not None:
            args += ["--requirepass", self.password]
        args += self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (
                    (self.dir / "redis.log").read_text(errors="replace")
                    if (self.dir / "redis.log").exists()
                    else ""
                )
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {log[-2000:]}")
            if self._ping():
                return self
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING within {timeout}s")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                reply = s.recv(64)
        except OSError:
            return False
        return reply.startswith((b"+PONG", b"-NOAUTH"))

    def kill(self) -> None:
        """SIGKILL the server (a crash), and wait for it to be gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def client(self, **kwargs: Any) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, **kwargs)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


class ReplyDroppingProxy:
    """A TCP proxy in front of a Redis server that can lose replies on purpose.

    While ``drop_replies`` is positive, each reply the server sends is swallowed and the client's
    connection is cut *after the server executed the command*, exactly what a client sees when a
    reply is lost to a timeout or a network failure. Each dropped reply decrements the counter.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.drop_replies = 0
        self.dropped = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if replies:
                    with self._lock:
                        drop = self.drop_replies > 0
                        if drop:
                            self.drop_replies -= 1
                            self.dropped += 1
                    if drop:
                        break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()


def append_from_threads(
    address: str, key_prefix: str, session_id: str, proc: int, threads: int, per_thread: int
) -> None:
    """Child process: ``threads`` threads append ``per_thread`` entries each to one session."""
    from aixgo.session import EntryType, Manager
    from aixgo.session.redis import RedisBackend, RedisOptions

    with Manager(RedisBackend(address, RedisOptions(key_prefix=key_prefix))) as mgr:
        sess = mgr.get(session_id)
        barrier = threading.Barrier(threads)
        errors: list[BaseException] = []

        def work(thread: int) -> None:
            barrier.wait()
            try:
                for i in range(per_thread):
                    sess.append_entry(EntryType.METADATA, {"p": proc, "t": thread, "i": i})
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if errors:
            raise errors[0]


if __name__ == "__main__":  # pragma: no cover - manual use: python -m tests.session.redis_server
    with RedisServer() as server:
        print(f"redis-server on {server.address}; Ctrl-C to stop")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


@contextlib.contextmanager
def backend_factory(address: str, prefix: str, **defaults: Any) -> Iterator[Callable[..., Any]]:
    """``make(target=None, **options)``: a RedisBackend on ``address`` (or ``target``) with
    ``key_prefix=prefix`` and ``defaults`` unless overridden; every backend made is closed afterwards."""
    from aixgo.session import RedisBackend, RedisOptions

    made: list[Any] = []

    def make(target: Any = None, **options: Any) -> Any:
        options.setdefault("key_prefix", prefix)
        for key, value in defaults.items():
            options.setdefault(key, value(target) if callable(value) else value)
        backend = RedisBackend(address if target is None else target, RedisOptions(**options))
        made.append(backend)
        return backend

    try:
        yield make
    finally:
        for backend in made:
            backend.close()


class ScriptLog(list[tuple[str, Any]]):
    """``(script name, reply)`` of every script a Redis store instance ran since :func:`record_scripts`."""

    def names(self) -> list[str]:
        return [name for name, _ in self]

    def replies(self, name: str) -> list[Any]:
        return [reply for script, reply in self if script == name]


def record_scripts(backend: Any) -> ScriptLog:
    """Record every script ``backend`` (a RedisBackend) runs from now on."""
    log = ScriptLog()
    original = backend._script

    def recording(script: Any, keys: Any, args: Any) -> Any:
        reply = original(script, keys, args)
        log.append((script.name, reply))
        return reply

    backend._script = recording
    return log


def tamper_redis_entry(backend: Any, session_id: str, entry_id: str) -> None:
    """Change a stored entry's content behind the store's back (its checksum no longer matches)."""
    raw = backend.client
    _meta, hist, _ent, gone, *_ = backend.keys_of(session_id)

    def tampered(value: bytes) -> bytes:
        rec = json.loads(value)
        rec["data"]["content"] = "tampered"
        return json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode()

    for i, value in enumerate(raw.lrange(hist, 0, -1)):
        if json.loads(value)["id"] == entry_id:
            raw.lset(hist, i, tampered(value))
            return
    value = raw.hget(gone, entry_id)
    assert value is not None, f"entry {entry_id} not found"
    raw.hset(gone, entry_id, tampered(value))
