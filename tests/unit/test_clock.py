"""One clock for every process of a stack: a scaled clock counts from a shared origin, or refuses to start."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from labelloop.clock import ClockError, ScaledClock, SystemClock, clock_from_env
from labelloop.errors import PermanentError
from labelloop_tools.local.stack import EmbeddedStack


def test_scaled_processes_agree_only_with_a_shared_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes started a second apart at a day per second: a day apart on their own origins, the same
    time on a shared one. Without an origin a scaled clock is a configuration error (the service exits 78)."""
    now = time.time()
    own = [ScaledClock(86400, origin=now - 1.0), ScaledClock(86400, origin=now)]
    assert abs(own[0].now() - own[1].now()) > 0.9 * 86400
    monkeypatch.setenv("LABELLOOP_CLOCK_SPEED", "86400")
    monkeypatch.setenv("LABELLOOP_CLOCK_ORIGIN", str(now))
    first, second = clock_from_env(), clock_from_env()
    assert abs(first.now() - second.now()) < 86400 * 0.05  # read 50 ms apart at most, on any machine
    monkeypatch.delenv("LABELLOOP_CLOCK_ORIGIN")
    with pytest.raises(ClockError, match="LABELLOOP_CLOCK_ORIGIN") as raised:
        clock_from_env()
    assert isinstance(raised.value, PermanentError)
    monkeypatch.setenv("LABELLOOP_CLOCK_SPEED", "1")
    assert isinstance(clock_from_env(), SystemClock)


def test_labelloop_up_gives_every_service_the_same_clock_origin(tmp_path: Path) -> None:
    stack = EmbeddedStack(state_dir=tmp_path, stack="clocks")
    origins = {stack._env(service)["LABELLOOP_CLOCK_ORIGIN"] for service in ("gt-bridge", "portal", "selector")}
    assert len(origins) == 1
    assert abs(float(origins.pop()) - time.time()) < 3600
