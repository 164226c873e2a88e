"""The trainer's pure decisions: promotion rule, skeletons from labeled points."""

from __future__ import annotations

from labelloop_trainer.evaluation import not_worse
from labelloop_trainer.rounds import _persons

SERVING = {"person_map50": 0.9, "pose_map50": 0.8, "head_map50": 0.9, "visibility_accuracy": 0.75}


def test_a_candidate_is_promoted_only_if_no_metric_is_worse() -> None:
    """Better or equal everywhere → promote; worse on one metric → not, unless within the tolerance."""
    assert not_worse(SERVING | {"pose_map50": 0.85}, SERVING, 0.0)
    assert not_worse(SERVING, SERVING, 0.0)
    worse = SERVING | {"visibility_accuracy": 0.74}
    assert not not_worse(worse, SERVING, 0.0)
    assert not_worse(worse, SERVING, 0.02)
    assert not not_worse({}, SERVING, 0.0)  # a candidate without metrics never wins


def test_skeletons_become_persons_with_boxes_around_their_located_points() -> None:
    """Points group by person; outside points do not widen the box; rig joints not labeled count as outside."""
    line = {"keypoints": {"crowdKeypoint": {"keypoints": [
        {"label": "nose", "x": 100, "y": 50, "visibility": "visible", "person": 0},
        {"label": "left_hip", "x": 140, "y": 150, "visibility": "occluded", "person": 0},
        {"label": "left_ankle", "x": 900, "y": 900, "visibility": "outside", "person": 0},
        {"label": "nose", "x": 250, "y": 60, "visibility": "visible", "person": 1},
    ]}}}  # fmt: skip
    first, second = _persons(line, 320, 240)
    left, top, width, height = first.box
    assert (left, top) == (100 - 8, 50 - 14)
    assert (left + width, top + height) == (140 + 8, 150 + 14)
    assert first.keypoints["left_hip"][2] == "occluded"
    assert first.keypoints["right_wrist"][2] == "outside"
    assert second.keypoints["nose"][:2] == (250.0, 60.0)
