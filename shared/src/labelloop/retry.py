"""Retry as a value: one :class:`RetryPolicy` says how every retry in Labelloop waits.

Three places retry (the worker's redelivery of a failed message, inference's calls to a Triton
that is down, gt-bridge's wait for a labeling job to start); each takes a policy instead of a
hand-written loop, so a test or an operator changes a number, not code.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``initial_s``, times ``multiplier`` per attempt, capped at ``max_s``.

    ``jitter`` spreads each delay by up to that fraction either way, so that workers which failed
    together do not retry together. ``deadline_s`` bounds the whole retrying (None: no bound).
    """

    initial_s: float = 0.5
    multiplier: float = 2.0
    max_s: float = 10.0
    jitter: float = 0.0
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.max_s < self.initial_s or self.multiplier < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(f"invalid retry policy: {self}")

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first failure)."""
        base = min(self.max_s, self.initial_s * self.multiplier ** max(0, attempt - 1))
        if not self.jitter:
            return base
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1 + spread))

    def call(
        self,
        action: Callable[[], T],
        *,
        retry_on: type[Exception] | tuple[type[Exception], ...],
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[Exception, float], None] | None = None,
    ) -> T:
        """``action()``, retried on ``retry_on`` until it succeeds or the next wait would pass the deadline."""
        deadline = None if self.deadline_s is None else monotonic() + self.deadline_s
        attempt = 0
        while True:
            try:
                return action()
            except retry_on as error:
                attempt += 1
                delay = self.delay_s(attempt)
                if deadline is not None and monotonic() + delay > deadline:
                    raise
                if on_retry is not None:
                    on_retry(error, delay)
                sleep(delay)
