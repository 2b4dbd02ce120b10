"""build_session_manager, and the promise that loading a config has no side effects."""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import types
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aixgo.config import build_session_manager, load_config
from aixgo.config.build import redis_options
from aixgo.errors import ConfigError
from aixgo.session import FileBackend, Manager

from .conftest import load_text

ROOT = Path(__file__).resolve().parents[2]
WritePath = Callable[..., Path]


def test_file_store_lock_timeout_and_cache_from_the_config(tmp_path: Path) -> None:
    config = load_text(
        "session: {base_dir: store, lock_timeout: 2s, cache_mb: 8}\nagents: [{name: a, model: m}]\n",
        base_dir=tmp_path,
    )
    with build_session_manager(config) as manager:
        backend = manager.backend
        assert isinstance(backend, FileBackend)
        assert (backend.lock_timeout, backend.cache_bytes) == (2.0, 8 * 1024 * 1024)
    bad = tmp_path / "bad.yaml"
    bad.write_text("session: {cache_mb: 0}\nagents: [{name: a, model: m}]\n")
    with pytest.raises(ConfigError, match="cache_mb"):
        load_config(bad)


def test_file_store_manager(tmp_path: Path) -> None:
    config = load_text(
        "session: {base_dir: store, fsync: never}\nagents: [{name: a, model: m}]\n", base_dir=tmp_path
    )
    assert not (tmp_path / "store").exists()
    manager = build_session_manager(config)
    try:
        assert isinstance(manager, Manager)
        backend = manager.backend
        assert isinstance(backend, FileBackend)
        assert backend.base_dir == tmp_path / "store"
        assert backend.fsync == "never"
        assert (tmp_path / "store").is_dir()
        session = manager.create("a", "s1")
        session.append_message("user", "hello")
        assert [entry.data["content"] for entry in session.get_entries()] == ["hello"]
    finally:
        manager.close()


def test_build_accepts_a_session_config(tmp_path: Path) -> None:
    config = load_text("session: {base_dir: s}\n", base_dir=tmp_path)
    manager = build_session_manager(config.session)
    try:
        assert manager.backend.base_dir == tmp_path / "s"  # type: ignore[attr-defined]
    finally:
        manager.close()


def test_disabled_sessions_have_no_manager(tmp_path: Path) -> None:
    config = load_text("session: {enabled: false, base_dir: s}\n", base_dir=tmp_path)
    with pytest.raises(
        ConfigError, match=r"sessions are disabled in .*cfg\.yaml \(session\.enabled: false\)"
    ):
        build_session_manager(config)
    assert not (tmp_path / "s").exists()


class _FakeRedisBackend:
    def __init__(self, target: str, options: Any) -> None:
        self.target = target
        self.options = options

    def close(self) -> None:
        pass


def _fake_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    from aixgo.session.redis import RedisOptions

    module = types.ModuleType("aixgo.session.redis")
    module.RedisBackend = _FakeRedisBackend  # type: ignore[attr-defined]
    module.RedisOptions = RedisOptions  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aixgo.session.redis", module)
    return module


def test_redis_store_manager_gets_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_module(monkeypatch)
    config = load_text(
        """\
        session:
          store: redis
          ttl: 30d
          redis:
            url: redis://cache:6380
            password: pw
            db: 2
            key_prefix: "app:"
            pool_size: 7
            socket_timeout: 1500ms
            connect_timeout: 3
            retries: 4
        """
    )
    manager = build_session_manager(config)
    backend = manager.backend
    assert isinstance(backend, _FakeRedisBackend)
    assert backend.target == "redis://cache:6380"
    options = backend.options
    assert (options.password, options.db, options.key_prefix, options.ttl) == (
        "pw",
        2,
        "app:",
        timedelta(days=30),
    )
    assert (options.pool_size, options.socket_timeout, options.connect_timeout, options.retries) == (
        7,
        1.5,
        3.0,
        4,
    )


def test_redis_unset_settings_keep_the_backend_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from aixgo.session.redis import RedisOptions

    _fake_module(monkeypatch)
    manager = build_session_manager(load_text("session: {store: redis}\n"))
    backend = manager.backend
    assert isinstance(backend, _FakeRedisBackend)
    assert backend.target == "localhost:6379"
    assert backend.options == RedisOptions()


def test_redis_options_match_the_real_dataclass() -> None:
    from aixgo.session.redis import RedisOptions

    config = load_text(
        "session: {store: redis, ttl: 1h, cache_mb: 3, redis: {addr: 'h:1', password: p, db: 1, key_prefix: 'k:', "
        "pool_size: 2, socket_timeout: 1, connect_timeout: 2, retries: 0, allow_eviction: true, cluster: false, min_replica_acks: 0, replica_ack_timeout: 1}}\n"
    )
    options = redis_options(config.session)
    assert set(options) == {field.name for field in dataclasses.fields(RedisOptions)}
    built = RedisOptions(**options)
    assert built.ttl == timedelta(hours=1)
    assert built.retries == 0 and built.allow_eviction is True
    assert built.cache_bytes == 3 * 1024 * 1024


# -- loading has no side effects ----------------------------------------------------------------


def _tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def _forbid(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("loading a config must not create directories or open sockets")


def _all_config_files() -> list[Path]:
    return sorted((ROOT / "configs").glob("*.yaml")) + sorted((ROOT / "examples").glob("**/*.yaml"))


def test_loading_creates_no_files_and_opens_no_sockets(
    write_config: WritePath, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = [
        write_config("session: {store: file, base_dir: a/b/c}\nagents: [{name: a, model: m}]\n", "file.yaml"),
        write_config("session: {store: redis, redis: {url: 'redis://10.9.8.7:6379/0'}}\n", "redis.yaml"),
    ]
    home = Path(os.path.expanduser("~"))
    before = (_tree(tmp_path), _tree(home))
    monkeypatch.setattr(socket, "socket", _forbid)
    monkeypatch.setattr(socket, "create_connection", _forbid)
    monkeypatch.setattr(socket, "getaddrinfo", _forbid)
    monkeypatch.setattr(os, "mkdir", _forbid)
    monkeypatch.setattr(os, "makedirs", _forbid)
    for path in [*_all_config_files(), *extra]:
        load_config(path)
    monkeypatch.undo()
    assert (_tree(tmp_path), _tree(home)) == before
    assert not (tmp_path / "a").exists()
