"""The acceptance benchmark's small form (``benchmarks/acceptance.py``): the selector's default
strategy must rank the shipped models' auto-labels better than a random ranking does.

A real pool: synthetic scenes rendered, predicted by the shipped in-cabin set through the inference
path in-process, each frame's auto-labels scored against its truth (keypoint PCK@0.1).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from labelloop_selector.settings import SelectorSettings

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from acceptance import RANDOM, run  # noqa: E402

pytestmark = pytest.mark.integration


def test_the_default_strategy_ranks_auto_labels_better_than_random() -> None:
    results = {r.strategy: r for r in run(pool=200, camera="rolled", new_share=0.25, target=0.85, audits=100, draws=5)}
    default = results[SelectorSettings.model_fields["strategy"].default]
    baseline = results[RANDOM]
    # A random ranking's area is the pool's mean up to noise; the default's must clear it.
    assert baseline.auacc == pytest.approx(baseline.mean, abs=0.03)
    assert default.auacc > baseline.auacc + 0.02, {name: round(r.auacc, 3) for name, r in results.items()}
    # The calibration it feeds never claims a target the truth misses more often than allowed.
    for result in results.values():
        assert result.shortfalls <= 1, result
