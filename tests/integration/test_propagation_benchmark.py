"""The propagation benchmark's small form (``benchmarks/propagation.py``): starting a tracked person from
people's correction of the frame before, carried by the model's motion, must leave people less to move
and to re-mark than the model's own pre-fill, on real predictions of the shipped set (synthetic clips,
tracked as inference tracks them, scored against their truth)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from labelloop_trainer.model_files import shipped_set  # noqa: E402
from propagation import CLIP_SEED, measure  # noqa: E402
from synthetic_pool import predict_clips  # noqa: E402

pytestmark = pytest.mark.integration


def test_a_correction_carried_to_the_next_frame_leaves_fewer_points_to_move_than_the_model() -> None:
    seeds = list(range(CLIP_SEED, CLIP_SEED + 4))
    onnx = shipped_set(REPO / "models" / "initial").onnx
    frames = predict_clips(onnx, seeds, 12, 160, dict.fromkeys(seeds, "rolled"))
    [(_, tally)] = measure(frames, [1]).items()
    assert tally.carried_persons > tally.frames, "most frames have tracked people carried from the frame before"
    model, carried = tally.model, tally.propagated
    assert model.points_true == carried.points_true
    # The full benchmark (30 clips of 20 frames, rolled camera, gap 1): 0.35x the points, 0.07x the visibility.
    assert carried.points_true - carried.points_close < 0.7 * (model.points_true - model.points_close)
    assert carried.visibility_total - carried.visibility_right < 0.5 * (model.visibility_total - model.visibility_right)
