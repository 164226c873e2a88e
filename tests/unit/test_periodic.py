"""Timed work of a service (gt-bridge's sweep, the trainer's scheduler, the portal's tick): runs until stopped,
survives failures, and keeps the service's liveness file fresh for the container healthcheck."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from labelloop import Periodic
from labelloop.healthcheck import LIVENESS_FILE, Liveness, check
from labelloop.worker import Lifecycle


def test_a_periodic_task_keeps_running_after_a_failure_and_stops_when_told() -> None:
    runs: list[int] = []
    stop = threading.Event()

    def run() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("a bad minute of AWS")
        if len(runs) == 3:
            stop.set()

    thread = threading.Thread(target=Periodic("test", 0.001, run).loop, args=(stop,))
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert runs == [0, 1, 2]  # the failure did not end it; the stop did


def test_a_service_without_a_queue_runs_its_periodic_work_until_stopped_and_beats_its_liveness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lifecycle the portal runs on: its ticks run until stop(), and each tick touches the liveness file."""
    alive = tmp_path / "alive"
    monkeypatch.setenv(LIVENESS_FILE, str(alive))
    ticks: list[float] = []
    lifecycle = Lifecycle(drain_timeout_s=1.0, periodic=(Periodic("tick", 0.001, lambda: ticks.append(0.0)),))

    def stop_after_some_ticks() -> None:
        while len(ticks) < 5:
            threading.Event().wait(0.001)
        lifecycle.stop()

    threading.Thread(target=stop_after_some_ticks, daemon=True).start()
    runner = threading.Thread(target=lifecycle.run)
    runner.start()
    runner.join(timeout=10)
    assert not runner.is_alive()
    assert lifecycle.stopping
    assert len(ticks) >= 5
    assert check(str(alive), max_age_s=60)[0]


def test_the_healthcheck_names_a_missing_or_stale_liveness_file(tmp_path: Path) -> None:
    """No file: the loop never started; an old one: it is stuck; unset: nothing to check."""
    alive = tmp_path / "alive"
    assert check(str(alive), max_age_s=90) == (False, f"{alive} does not exist: the service loop has not started")
    alive.touch()
    mtime = alive.stat().st_mtime
    assert check(str(alive), max_age_s=90, now=mtime + 10)[0]
    healthy, why = check(str(alive), max_age_s=90, now=mtime + 300)
    assert not healthy
    assert why.endswith("the service loop is stuck")
    assert check(None, max_age_s=90)[0]


def test_liveness_touches_at_most_once_a_second(tmp_path: Path) -> None:
    """The poll loop may pass many times a second; the file is touched on the first pass of each second."""
    alive = tmp_path / "alive"
    liveness = Liveness(str(alive))
    liveness.beat()
    first = alive.stat().st_mtime_ns
    alive.unlink()
    liveness.beat()  # within the same second: not touched again
    assert not alive.exists()
    assert first > 0
