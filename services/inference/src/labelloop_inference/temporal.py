"""Temporal change of a tracked person: the clip's neighbouring frames as a signal of doubt.

A person's pose moves smoothly from one sampled frame to the next; a keypoint that jumps against
the rest of the body, or flickers between visible, occluded and outside, is one the model is
unsure of however confident each frame looked (``Person.temporal_change``). The box's own motion
(the person walking, the camera panning) is taken out first, so steady people score near 0.
"""

from __future__ import annotations

import math

from labelloop import Person


def temporal_change(previous: Person, current: Person) -> float:
    """``Person.temporal_change`` of ``current`` against the same track's ``previous`` sighting."""
    moved_x = (current.box.left + current.box.width / 2) - (previous.box.left + previous.box.width / 2)
    moved_y = (current.box.top + current.box.height / 2) - (previous.box.top + previous.box.height / 2)
    diagonal = max(1.0, math.hypot(current.box.width, current.box.height))
    before = {point.name: point for point in previous.keypoints}
    changes = []
    for point in current.keypoints:
        was = before.get(point.name)
        if was is None or was.visibility != point.visibility:
            changes.append(1.0)
        elif point.visibility == "outside":
            changes.append(0.0)
        else:
            residual = math.hypot(point.x - was.x - moved_x, point.y - was.y - moved_y)
            changes.append(min(1.0, residual / diagonal))
    return round(sum(changes) / len(changes), 4) if changes else 0.0
