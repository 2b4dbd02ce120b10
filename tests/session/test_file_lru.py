"""The file store's small LRU map is shared by the store's threads (issue 21, item 12: two threads gave a
bare KeyError)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from aixgo.session.file.lru import LruDict


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter can, so a missing lock shows within a short run."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def _race(*workers: Callable[[threading.Event], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    stop = threading.Event()

    def run(work: Callable[[threading.Event], None]) -> None:
        try:
            work(stop)
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.usefixtures("busy_switching")
def test_a_reader_and_a_writer_share_one_lru_dict() -> None:
    cache: LruDict[int, int] = LruDict(2)

    def read(stop: threading.Event) -> None:
        while not stop.is_set():
            cache.get(0)

    def churn(stop: threading.Event) -> None:
        for _ in range(300_000):
            cache.put(0, 1)
            cache.pop(0)

    assert _race(read, churn) == []

