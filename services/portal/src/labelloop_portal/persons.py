"""Labels as the page edits them: each person one object (a box, and the rig's points placed), from and
back to Ground Truth's shapes, whose meaning does not change: head boxes stay ``annotations``,
keypoints stay ``crowdKeypoint`` points numbered by ``person``; a person's box goes where the model's
lines keep it, ``<attribute>-metadata.persons[i].box``."""

from __future__ import annotations

from typing import Any

from labelloop.groundtruth import PREFILL_ATTRIBUTE

BOX_KEYS = ("left", "top", "width", "height")


def persons_of(labels: dict[str, Any], attribute: str, modality: str) -> list[dict[str, Any]]:
    """``[{"box": {...} | None, "points": [{label, x, y, visibility}]}]`` from a line's ``attribute`` label."""
    content = labels.get(attribute) or {}
    if modality == "head":
        return [{"box": {k: box[k] for k in BOX_KEYS}, "points": []} for box in content.get("annotations", [])]
    metadata = labels.get(f"{attribute}-metadata") or {}
    boxes: list[dict[str, Any] | None] = [
        {k: box[k] for k in BOX_KEYS} if (box := (person or {}).get("box")) else None
        for person in metadata.get("persons", [])
    ]
    points = content.get("crowdKeypoint", {}).get("keypoints", [])
    count = max([len(boxes), *(int(p.get("person", 0)) + 1 for p in points)], default=0)
    boxes += [None] * (count - len(boxes))
    persons: list[dict[str, Any]] = [{"box": box, "points": []} for box in boxes]
    for point in points:
        if point.get("visibility", "visible") != "outside":
            persons[int(point.get("person", 0))]["points"].append(
                {
                    "label": point["label"],
                    "x": point["x"],
                    "y": point["y"],
                    "visibility": point.get("visibility", "visible"),
                }
            )
    return persons


def person_boxes_metadata(boxes: list[dict[str, float] | None]) -> list[dict[str, Any]]:
    """``persons`` for the answer's metadata, one entry per person (``{}``: drawn without a box)."""
    return [{"box": {k: round(box[k]) for k in BOX_KEYS}} if box else {} for box in boxes]


def starting_persons(line: dict[str, Any], modality: str, level: int) -> list[dict[str, Any]]:
    """The persons a task starts from: the level-1 answer at level 2, else the model's labels."""
    start = line if level == 2 else line.get(PREFILL_ATTRIBUTE) or {}
    return persons_of(start, modality, modality)
