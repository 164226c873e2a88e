"""Helpers shared by the test suites (no fixtures here; those live in conftest.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from labelloop import Worker

EVENTS_DIR = Path(__file__).parent / "events"
T = TypeVar("T")


def payload(name: str) -> str:
    """A recorded or hand-written SQS body from tests/events."""
    return (EVENTS_DIR / name).read_text()


def eventually(check: Callable[[], T], *, timeout_s: float = 20.0, interval_s: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail with its last value after the timeout."""
    deadline = time.monotonic() + timeout_s
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = check()
    assert value, f"condition not met within {timeout_s} s (last value: {value!r})"
    return value


@contextmanager
def worker_running(worker: Worker) -> Iterator[Worker]:
    """Run ``worker`` in a thread for the ``with`` block; stop and join it afterwards."""
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "worker did not stop"
