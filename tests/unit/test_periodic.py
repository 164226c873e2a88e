"""Timed work of a service (gt-bridge's sweep, the trainer's scheduler): runs until stopped, survives failures."""

from __future__ import annotations

import threading

from labelloop import Periodic


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
