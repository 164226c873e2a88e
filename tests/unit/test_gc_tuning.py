"""The services' garbage-collector settings: start-up objects frozen, young passes spaced out."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from labelloop.gc_tuning import GEN0_THRESHOLD, tune_for_throughput


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_tuning_freezes_what_is_alive_and_raises_the_young_threshold() -> None:
    loaded = [object() for _ in range(10)]  # stands for what a service holds once started
    tune_for_throughput()
    assert gc.get_freeze_count() >= len(loaded)
    assert gc.get_threshold()[0] == GEN0_THRESHOLD
    tune_for_throughput()  # idempotent: a second call changes nothing that matters
    assert gc.get_threshold()[0] == GEN0_THRESHOLD
