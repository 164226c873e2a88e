"""Crafted predictions for selector tests: exact confidences and positions, nothing random."""

from __future__ import annotations

from labelloop import Box, FramePredictions, FrameRef, Keypoint, Person

RIG = ("nose", "left_eye", "right_eye", "left_shoulder", "right_shoulder")


def keypoint(name: str, main: float, visible: float, x: float = 100.0, y: float = 100.0) -> Keypoint:
    """A point whose visibility follows the seed rule with both thresholds at 0.6."""
    visibility = "outside" if main <= 0.6 else ("visible" if visible > 0.6 else "occluded")
    return Keypoint(name=name, x=x, y=y, main_confidence=main, visible_confidence=visible, visibility=visibility)


def frame(
    frame_no: int,
    *,
    head: float | None = 0.95,
    person: float | None = 0.95,
    points: list[tuple[float, float]] | None = None,
    shift: float = 0.0,
    clip: str = "clip-1",
    size: tuple[int, int] = (640, 480),
    disagreement: float | None = 0.01,
    temporal_change: float | None = 0.01,
) -> FramePredictions:
    """One frame: an optional head box, an optional person whose rig points have (main, visible)
    confidences, everything moved right by ``shift`` pixels; ``disagreement`` is the pose models'
    (the committee strategy's input; by default they agree closely); ``temporal_change`` the person's
    since their track's previous frame (the temporal strategy's; by default steady)."""
    width, height = size
    ref = FrameRef(uri=f"s3://test-data/frames/{clip}/{frame_no:06d}.jpg", frame_no=frame_no, timestamp_s=frame_no / 10,
                   width=width, height=height)  # fmt: skip
    heads = [] if head is None else [Box(left=300 + shift, top=80, width=60, height=70, confidence=head)]
    persons = []
    if person is not None:
        confidences = points if points is not None else [(0.95, 0.95)] * len(RIG)
        rig = [
            keypoint(RIG[i % len(RIG)], m, v, x=200 + 30 * i + shift, y=150 + 20 * i)
            for i, (m, v) in enumerate(confidences)
        ]
        persons = [Person(box=Box(left=180 + shift, top=60, width=260, height=400, confidence=person, label="person"),
                          keypoints=rig, disagreement=disagreement, temporal_change=temporal_change)]  # fmt: skip
    return FramePredictions(frame=ref, heads=heads, persons=persons)
