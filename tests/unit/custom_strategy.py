"""User-defined selector strategies, loaded by dotted path in the scoring tests."""

from __future__ import annotations

from labelloop import FramePredictions
from labelloop_selector.scoring import ScoringContext


def wrist_focus(predictions: FramePredictions, context: ScoringContext) -> float:
    """Only the least certain wrist counts (a team that cares about hands on the wheel)."""
    wrists = [p.main_confidence for person in predictions.persons for p in person.keypoints if "wrist" in p.name]
    return min(wrists, default=context.empty_frame_score)


def out_of_range(predictions: FramePredictions, context: ScoringContext) -> float:
    return 1.5


NOT_CALLABLE = 3
