"""Injectable clocks, so that days of labeling-job life can pass in seconds in tests and demos.

One convention for time in Labelloop:

* **wall-clock time** (expiries, leases, TTLs, budgets per hour, resend intervals, task
  lifetimes) comes from a :class:`Clock` (``clock.now()``, epoch seconds), injected where it is
  used: :class:`SystemClock` in production, :class:`ScaledClock` in demos, :class:`ManualClock`
  in tests;
* **elapsed time** (a retry's deadline, a cache's age, a drain timeout) comes from
  ``time.monotonic``, injected as a parameter named ``monotonic`` where a test must move it.

Processes read ``LABELLOOP_CLOCK_SPEED``: 1 is real time; 86400 makes one real second a
simulated day, counted from ``LABELLOOP_CLOCK_ORIGIN``, which every process of a stack shares.
"""

from __future__ import annotations

import os
import time
from typing import Protocol

from labelloop.errors import PermanentError


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch, on this clock."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ScaledClock:
    """Real time since ``origin``, multiplied by ``speed``; shared by processes with the same origin."""

    def __init__(self, speed: float, origin: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.speed = speed
        self.origin = time.time() if origin is None else origin

    def now(self) -> float:
        return self.origin + (time.time() - self.origin) * self.speed


class ManualClock:
    """A clock a test moves by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


class ClockError(PermanentError):
    """A scaled clock without the origin every process must share."""


def clock_from_env() -> Clock:
    """``LABELLOOP_CLOCK_SPEED`` (and ``LABELLOOP_CLOCK_ORIGIN``, epoch seconds) → a clock.

    A scaled clock needs the origin: each process would otherwise count from its own start, and
    two started a second apart at speed 86400 would disagree by a day (a task expired for one,
    fresh for the other). ``labelloop up`` sets one origin for every process it starts."""
    speed = float(os.environ.get("LABELLOOP_CLOCK_SPEED", "1") or 1)
    if speed == 1:
        return SystemClock()
    origin = os.environ.get("LABELLOOP_CLOCK_ORIGIN")
    if not origin:
        raise ClockError(
            f"LABELLOOP_CLOCK_SPEED={speed:g} needs LABELLOOP_CLOCK_ORIGIN (epoch seconds, the same for every "
            "process), or processes started apart disagree on the time"
        )
    return ScaledClock(speed, float(origin))
