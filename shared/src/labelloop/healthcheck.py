"""Liveness of a service process, for the container's HEALTHCHECK (``python -m labelloop.healthcheck``).

A service whose process is up but whose loop hangs (a deadlocked poll, a stuck tick) would stay
"running" forever; so the loop itself touches ``LABELLOOP_LIVENESS_FILE`` on every pass (the
worker's poll, at most ``poll_wait_s`` apart; the portal's tick) and the check fails once that file
is older than ``LABELLOOP_LIVENESS_MAX_AGE_S`` (default 90 s). Without the variable nothing is
written and the check has nothing to say (exit 0): the embedded stack supervises its own children.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

LIVENESS_FILE = "LABELLOOP_LIVENESS_FILE"
MAX_AGE = "LABELLOOP_LIVENESS_MAX_AGE_S"
DEFAULT_MAX_AGE_S = 90.0


class Liveness:
    """Touches the liveness file, at most once a second (the poll loop may run much faster)."""

    def __init__(self, path: str | None = None) -> None:
        configured = path if path is not None else os.environ.get(LIVENESS_FILE)
        self._path = Path(configured) if configured else None
        self._last = 0.0

    def beat(self) -> None:
        if self._path is None:
            return
        now = time.monotonic()
        if now - self._last < 1.0:
            return
        self._last = now
        try:
            self._path.touch()
        except OSError:  # a read-only or full disk must not stop the service; the check will say so
            return


def check(path: str | None, max_age_s: float, now: float | None = None) -> tuple[bool, str]:
    """(healthy, why) for the liveness file at ``path``."""
    if not path:
        return True, f"{LIVENESS_FILE} is not set: no liveness to check"
    try:
        age = (time.time() if now is None else now) - Path(path).stat().st_mtime
    except FileNotFoundError:
        return False, f"{path} does not exist: the service loop has not started"
    if age > max_age_s:
        return False, f"{path} is {age:.0f} s old (> {max_age_s:.0f} s): the service loop is stuck"
    return True, f"alive {age:.0f} s ago"


def main() -> int:
    healthy, why = check(os.environ.get(LIVENESS_FILE), float(os.environ.get(MAX_AGE, DEFAULT_MAX_AGE_S)))
    (sys.stdout if healthy else sys.stderr).write(why + "\n")
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
