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

from acceptance import CLIP_SEED, RANDOM, run, strategy_scores  # noqa: E402
from labelloop_trainer.model_files import shipped_set  # noqa: E402
from synthetic_pool import predict_clips  # noqa: E402

pytestmark = pytest.mark.integration


def test_the_default_strategy_ranks_auto_labels_better_than_random() -> None:
    found, points = run(pool=200, camera="rolled", new_share=0.25, target=0.85, audits=100, draws=5)
    results = {r.strategy: r for r in found}
    default = results[SelectorSettings.model_fields["strategy"].default]
    baseline = results[RANDOM]
    # A random ranking's area is the pool's mean up to noise; the default's must clear it.
    assert baseline.auacc == pytest.approx(baseline.mean, abs=0.03)
    assert default.auacc > baseline.auacc + 0.02, {name: round(r.auacc, 3) for name, r in results.items()}
    # The calibration it feeds never claims a target the truth misses more often than allowed.
    for result in results.values():
        assert result.shortfalls <= 1, result
    # Which points are wrong: every located point of the rig, for the pool and the default's surest half.
    assert set(points["pool"]) == set(points[f"surest half ({default.strategy})"])
    assert {"nose", "left_wrist", "right_hip"} <= set(points["pool"])
    assert all(0.0 <= value <= 1.0 for values in points.values() for value in values.values())


def test_on_clips_the_temporal_strategy_ranks_by_the_tracked_changes() -> None:
    """The clip form tracks each clip as inference does: ``temporal`` gets each person's change since
    their previous frame (not the constant 1 an untracked frame gives it) and its ranking is reported
    beside random and the default, with the two joined."""
    found, _ = run(pool=60, camera="standard", new_share=1.0, target=0.85, audits=40, draws=3, clip_frames=20)
    results = {r.strategy: r for r in found}
    default = SelectorSettings.model_fields["strategy"].default
    assert {default, "temporal", f"{default}+temporal", RANDOM} <= set(results)
    frames = predict_clips(shipped_set(REPO / "models" / "initial").onnx, [CLIP_SEED], 20, 160, {CLIP_SEED: "standard"})
    changes = [p.temporal_change for f in frames[1:] for p in f.predictions.persons if p.track_id is not None]
    assert changes, "people tracked after the clip's first frame"
    assert None not in changes
    assert len(set(strategy_scores(frames, "temporal"))) > 5, "temporal ranks frames, not a constant"
