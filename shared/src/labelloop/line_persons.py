"""The persons of a label line (an augmented-manifest line's ``keypoints`` label), each with a box and every
point of the rig: one reading for the trainer and for exports.

Points group by their ``person`` number; a rig point a person has no entry for is outside. A person's
box is the one stored for it in the metadata's ``persons`` (the model's detection, or one a person
drew in the portal) when the caller trusts that source; else it spans the located points, padded 10%
(and 4 px) and clipped to the frame.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from labelloop.rig import Rig

Box = tuple[float, float, float, float]  # left, top, width, height
OUTSIDE = (0.0, 0.0, "outside")


@dataclass(frozen=True)
class LinePerson:
    box: Box
    keypoints: dict[str, tuple[float, float, str]]  # every rig point: x, y, visible | occluded | outside
    box_confidence: float | None = None  # the model's, for a detection box
    track_id: int | None = None  # the same person in the clip's other frames (the metadata's "track-id")
    attributes: dict[str, str] | None = None  # what people said of the track (the rig's track attributes)


def line_persons(line: dict[str, Any], width: int, height: int, rig: Rig, *, stored_boxes: bool) -> list[LinePerson]:
    """The persons with at least one located point. ``stored_boxes``: use the metadata's boxes where present."""
    grouped: dict[int, dict[str, tuple[float, float, str]]] = defaultdict(dict)
    for point in (line.get("keypoints") or {}).get("crowdKeypoint", {}).get("keypoints", []):
        grouped[int(point.get("person", 0))][point["label"]] = (
            float(point["x"]), float(point["y"]), str(point.get("visibility", "visible"))
        )  # fmt: skip
    metadata = [p or {} for p in (line.get("keypoints-metadata") or {}).get("persons", [])]
    stored = [p.get("box") for p in metadata]
    persons = []
    for index, points in sorted(grouped.items()):
        located = [(x, y) for x, y, v in points.values() if v != "outside"]
        if not located:
            continue
        filled = {name: points.get(name, OUTSIDE) for name in rig.keypoints}
        said = metadata[index] if index < len(metadata) else {}
        track_id = said["track-id"] if isinstance(said.get("track-id"), int) else None
        attributes = dict(said["attributes"]) if said.get("attributes") else None
        box = stored[index] if stored_boxes and index < len(stored) else None
        if box:
            persons.append(LinePerson((box["left"], box["top"], box["width"], box["height"]), filled,
                                      box.get("confidence"), track_id, attributes))  # fmt: skip
            continue
        xs, ys = [p[0] for p in located], [p[1] for p in located]
        pad_x, pad_y = 0.1 * (max(xs) - min(xs)) + 4, 0.1 * (max(ys) - min(ys)) + 4
        left, top = max(0.0, min(xs) - pad_x), max(0.0, min(ys) - pad_y)
        right, bottom = min(float(width), max(xs) + pad_x), min(float(height), max(ys) + pad_y)
        persons.append(LinePerson((left, top, right - left, bottom - top), filled, track_id=track_id,
                                  attributes=attributes))  # fmt: skip
    return persons
