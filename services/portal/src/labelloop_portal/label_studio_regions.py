"""Labels between Labelloop's persons and Label Studio's regions: the labeling config a job's project
gets, the regions a task is pre-annotated with, and the persons read back from an annotation.

A keypoint job's project has a ``person`` rectangle, one ``KeyPointLabels`` label per rig point and a
per-region ``visibility`` choice (visible / occluded); a head job's has a ``head`` rectangle. Label
Studio places everything in percent of the image; Ground Truth's shapes are in pixels.

Label Studio has no notion of which points make one person. The pre-annotation names each region
``p<person>-<point>`` (``p<person>-box`` for the box), and Label Studio keeps a region's id when a
person moves it, so most points come back with their person. A point someone added gets the person
whose box holds it (the smallest such box), else the nearest box's; with no box at all, the points
left over are one new person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

IMAGE = "image"
PERSON, HEAD, KEYPOINTS, VISIBILITY = "person", "head", "keypoints", "visibility"
LABELLED_VISIBILITY = ("visible", "occluded")
"""The choices a point has in Label Studio; a point not placed is outside."""
KEYPOINT_WIDTH = 0.6  # percent of the image: how large Label Studio draws a point
_REGION_ID = re.compile(r"^p(\d+)-")


def labeling_config(modality: str, keypoint_names: Sequence[str]) -> str:
    """The project's labeling config for one modality (keypoints: the given rig points, in order)."""
    if modality == "head":
        regions = f'<RectangleLabels name="{HEAD}" toName="{IMAGE}"><Label value="head"/></RectangleLabels>'
    else:
        labels = "".join(f"<Label value={quoteattr(name)}/>" for name in keypoint_names)
        choices = "".join(f'<Choice value="{choice}"/>' for choice in LABELLED_VISIBILITY)
        regions = (
            f'<RectangleLabels name="{PERSON}" toName="{IMAGE}"><Label value="person"/></RectangleLabels>'
            f'<KeyPointLabels name="{KEYPOINTS}" toName="{IMAGE}" smart="false">{labels}</KeyPointLabels>'
            f'<Choices name="{VISIBILITY}" toName="{IMAGE}" perRegion="true" choice="single" required="false">'
            f"{choices}</Choices>"
        )
    return f'<View><Image name="{IMAGE}" value="${IMAGE}" zoom="true" zoomControl="true"/>{regions}</View>'


def _percent(value: float, size: int) -> float:
    return round(100.0 * value / size, 4) if size else 0.0


def _pixels(value: float, size: int) -> float:
    return round(value * size / 100.0, 2)


def prediction_results(
    persons: Iterable[dict[str, Any]], modality: str, width: int, height: int
) -> list[dict[str, Any]]:
    """Label Studio regions for ``persons`` (:func:`labelloop_portal.persons.persons_of`'s shape)."""
    size = {"original_width": width, "original_height": height, "image_rotation": 0}
    results: list[dict[str, Any]] = []
    for index, person in enumerate(persons):
        if box := person.get("box"):
            tag = HEAD if modality == "head" else PERSON
            value = {"x": _percent(box["left"], width), "y": _percent(box["top"], height),
                     "width": _percent(box["width"], width), "height": _percent(box["height"], height),
                     "rotation": 0, "rectanglelabels": [tag]}  # fmt: skip
            results.append({"id": f"p{index}-box", "from_name": tag, "to_name": IMAGE, "type": "rectanglelabels",
                            **size, "value": value})  # fmt: skip
        for point in person.get("points", []):
            region = f"p{index}-{point['label']}"
            where = {"x": _percent(point["x"], width), "y": _percent(point["y"], height), "width": KEYPOINT_WIDTH}
            results.append({"id": region, "from_name": KEYPOINTS, "to_name": IMAGE, "type": "keypointlabels",
                            **size, "value": {**where, "keypointlabels": [point["label"]]}})  # fmt: skip
            visibility = point.get("visibility", "visible")
            results.append({"id": region, "from_name": VISIBILITY, "to_name": IMAGE, "type": "choices",
                            **size, "value": {**where, "choices": [visibility]}})  # fmt: skip
    return results


def _person_of(region_id: str) -> int | None:
    found = _REGION_ID.match(region_id)
    return int(found.group(1)) if found else None


def _owner(x: float, y: float, boxes: dict[int, dict[str, float]]) -> int | None:
    """The person whose box holds (x, y), the smallest such; else the nearest box's centre; None: no boxes."""
    holding = [
        (box["width"] * box["height"], person)
        for person, box in boxes.items()
        if box["left"] <= x <= box["left"] + box["width"] and box["top"] <= y <= box["top"] + box["height"]
    ]
    if holding:
        return min(holding)[1]
    if not boxes:
        return None

    def distance(person: int) -> float:
        box = boxes[person]
        return float((box["left"] + box["width"] / 2 - x) ** 2 + (box["top"] + box["height"] / 2 - y) ** 2)

    return min(boxes, key=distance)


def persons_from_results(results: Sequence[dict[str, Any]], modality: str) -> list[dict[str, Any]]:
    """The persons of an annotation's regions, in pixels: ``[{"box": {...} | None, "points": [...],
    "number": n}]``.

    Persons keep their pre-annotated numbers (``number``: which pre-annotated person it is, so its track
    can follow it); new ones are numbered after them. Sizes come from each
    region's ``original_width``/``original_height``, which Label Studio records with every region."""
    boxes: dict[int, dict[str, float]] = {}
    points: list[tuple[int | None, dict[str, Any], str]] = []
    visibility: dict[str, str] = {}
    unnumbered_boxes: list[dict[str, float]] = []
    for region in results:
        value, kind = region.get("value") or {}, region.get("type")
        width, height = int(region.get("original_width") or 0), int(region.get("original_height") or 0)
        if kind == "rectanglelabels":
            box = {"left": _pixels(value["x"], width), "top": _pixels(value["y"], height),
                   "width": _pixels(value["width"], width), "height": _pixels(value["height"], height)}  # fmt: skip
            person = _person_of(str(region.get("id", "")))
            if person is None or person in boxes:
                unnumbered_boxes.append(box)
            else:
                boxes[person] = box
        elif kind == "keypointlabels" and value.get("keypointlabels"):
            point = {"label": value["keypointlabels"][0], "x": _pixels(value["x"], width),
                     "y": _pixels(value["y"], height)}  # fmt: skip
            points.append((_person_of(str(region.get("id", ""))), point, str(region.get("id", ""))))
        elif kind == "choices" and value.get("choices"):
            visibility[str(region.get("id", ""))] = value["choices"][0]
    following = max(boxes, default=-1) + 1
    for box in unnumbered_boxes:
        boxes[following] = box
        following += 1
    persons: dict[int, dict[str, Any]] = {index: {"box": box, "points": [], "number": index}
                                          for index, box in boxes.items()}  # fmt: skip
    leftover = max([following - 1, *(p for p, _, _ in points if p is not None)], default=-1) + 1
    for numbered, point, region_id in points:
        person = numbered if numbered is not None else _owner(point["x"], point["y"], boxes)
        if person is None:
            person = leftover
        chosen = visibility.get(region_id, "visible")
        point["visibility"] = chosen if chosen in LABELLED_VISIBILITY else "visible"
        persons.setdefault(person, {"box": None, "points": [], "number": person})["points"].append(point)
    if modality == "head":
        return [{"box": persons[index]["box"], "points": []} for index in sorted(persons) if persons[index]["box"]]
    return [persons[index] for index in sorted(persons)]
