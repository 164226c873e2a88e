"""Ground truth of a rendered scene in the contracts' shape, as a perfect annotator would answer."""

from __future__ import annotations

from labelloop.events import Box, FramePredictions, FrameRef, Keypoint, Person
from labelloop.rig import IN_CABIN_17, Rig
from labelloop.synth.scene import Rendered


def truth_predictions(rendered: Rendered, frame: FrameRef, rig: Rig = IN_CABIN_17) -> FramePredictions:
    """The scene's true heads and skeletons for ``frame``, every confidence 1."""
    persons = []
    for person in rendered.persons:
        points = []
        for name in rig.keypoints:
            x, y, visibility = person.keypoints[name]
            main = 0.0 if visibility == "outside" else 1.0
            seen = 1.0 if visibility == "visible" else 0.0
            point = Keypoint(name=name, x=round(x, 2), y=round(y, 2), main_confidence=main, visible_confidence=seen,
                             visibility=visibility)  # fmt: skip
            points.append(point)
        left, top, width, height = person.box
        persons.append(Person(box=Box(left=left, top=top, width=width, height=height, confidence=1.0, label="person"),
                              keypoints=points))  # fmt: skip
    heads = [
        Box(left=h[0], top=h[1], width=h[2], height=h[3], confidence=1.0) for p in rendered.persons if (h := p.head)
    ]
    return FramePredictions(frame=frame, heads=heads, persons=persons)
