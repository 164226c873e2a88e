"""Labels as the page edits them: each person one object (a box, and the rig's points placed), from and
back to Ground Truth's shapes, whose meaning does not change: head boxes stay ``annotations``,
keypoints stay ``crowdKeypoint`` points numbered by ``person``; a person's box goes where the model's
lines keep it, ``<attribute>-metadata.persons[i].box``."""

from __future__ import annotations

from typing import Any

from labelloop.groundtruth import PREFILL_ATTRIBUTE

BOX_KEYS = ("left", "top", "width", "height")


def persons_of(labels: dict[str, Any], attribute: str, modality: str) -> list[dict[str, Any]]:
    """``[{"box": {...} | None, "points": [{label, x, y, visibility}], "track": id | None, "attributes": {}}]``
    from a line's ``attribute`` label (``track``: the person's track in the clip, ``track-id`` in the
    metadata; ``attributes``: what people said of the track, the rig's track attributes)."""
    content = labels.get(attribute) or {}
    if modality == "head":
        return [{"box": {k: box[k] for k in BOX_KEYS}, "points": [], "track": None, "attributes": {}}
                for box in content.get("annotations", [])]  # fmt: skip
    metadata = [person or {} for person in (labels.get(f"{attribute}-metadata") or {}).get("persons", [])]
    boxes: list[dict[str, Any] | None] = [
        {k: box[k] for k in BOX_KEYS} if (box := person.get("box")) else None for person in metadata
    ]
    points = content.get("crowdKeypoint", {}).get("keypoints", [])
    count = max([len(boxes), *(int(p.get("person", 0)) + 1 for p in points)], default=0)
    boxes += [None] * (count - len(boxes))
    tracks = [person.get("track-id") for person in metadata] + [None] * (count - len(metadata))
    said = [dict(person.get("attributes") or {}) for person in metadata] + [{}] * (count - len(metadata))
    persons: list[dict[str, Any]] = [{"box": box, "points": [], "track": track, "attributes": attributes}
                                     for box, track, attributes in zip(boxes, tracks, said, strict=True)]  # fmt: skip
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


def person_boxes_metadata(
    boxes: list[dict[str, float] | None],
    tracks: list[int | None] | None = None,
    attributes: list[dict[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """``persons`` for the answer's metadata, one entry per person (``{}``: drawn without a box), with the
    track each person kept from the model (a person added by hand has none) and the track attributes set."""
    tracks = (tracks or []) + [None] * max(0, len(boxes) - len(tracks or []))
    said = (attributes or []) + [{}] * max(0, len(boxes) - len(attributes or []))
    return [
        ({"box": {k: round(box[k]) for k in BOX_KEYS}} if box else {})
        | ({"track-id": track} if track else {})
        | ({"attributes": dict(values)} if values else {})
        for box, track, values in zip(boxes, tracks, said, strict=False)
    ]


def starting_persons(line: dict[str, Any], modality: str, level: int) -> list[dict[str, Any]]:
    """The persons a task starts from: the level-1 answer at level 2, else the model's labels."""
    start = line if level == 2 else line.get(PREFILL_ATTRIBUTE) or {}
    return persons_of(start, modality, modality)
