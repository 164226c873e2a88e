"""A team's COCO keypoints file, read and checked before anything is written.

Every problem is collected, not just the first, so one run tells a team all it must fix: malformed
JSON, a ``person`` category whose keypoint names match no known rig, missing images, boxes outside
their image, duplicate image ids, annotations of unknown images, keypoint lists of the wrong length
or with a flag other than 0/1/2. Only a file with no problem becomes frames to import.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelloop.coco import HEAD_CATEGORY, VISIBILITY_FLAG
from labelloop.rig import Rig

VISIBILITY_OF_FLAG = {flag: visibility for visibility, flag in VISIBILITY_FLAG.items()}
BOX_SLACK_PX = 1.0  # rounding in other tools' exports


@dataclass
class ImportedPerson:
    box: tuple[float, float, float, float]
    points: list[dict[str, Any]]  # label, x, y, visibility (outside points left out, as our lines do)


@dataclass
class ImportedFrame:
    file_name: str
    path: Path
    width: int
    height: int
    persons: list[ImportedPerson] = field(default_factory=list)
    heads: list[tuple[float, float, float, float]] = field(default_factory=list)


class CocoImportError(ValueError):
    """The file cannot be imported; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s): " + "; ".join(problems[:20]))


def _rig_for(names: list[str], rigs: list[Rig]) -> Rig | None:
    """The rig with exactly these keypoint names, in this order."""
    return next((rig for rig in rigs if list(rig.keypoints) == names), None)


@dataclass(frozen=True)
class CocoFile:
    rig: Rig
    frames: list[ImportedFrame]
    has_heads: bool  # a head category is declared: its boxes (even none on a frame) are labels


def read_coco(path: Path, images: Path, rigs: list[Rig]) -> CocoFile:
    """The frames of COCO file ``path`` (image files under ``images``) on the rig whose names it uses."""
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CocoImportError([f"{path} is not readable JSON: {error}"]) from None
    if not isinstance(document, dict) or not all(isinstance(document.get(k), list) for k in
                                                 ("images", "annotations", "categories")):  # fmt: skip
        raise CocoImportError([f"{path} has no images, annotations and categories lists: not a COCO file"])
    problems: list[str] = []
    people = [c for c in document["categories"] if isinstance(c, dict) and c.get("keypoints")]
    if len(people) != 1:
        raise CocoImportError([f"{len(people)} categories with keypoints; one person category is expected"])
    person_category = people[0]
    names = [str(n) for n in person_category["keypoints"]]
    rig = _rig_for(names, rigs)
    if rig is None:
        known = "; ".join(f"{r.name} ({len(r)} points)" for r in rigs)
        raise CocoImportError([f"keypoint names {names[:5]}... ({len(names)}) match no rig: {known}"])
    head_ids = {c.get("id") for c in document["categories"] if isinstance(c, dict) and c.get("name") == "head"}
    ids = Counter(image.get("id") for image in document["images"])
    problems += [f"image id {i} appears {n} times" for i, n in ids.items() if n > 1]
    frames: dict[Any, ImportedFrame] = {}
    for image in document["images"]:
        file_name, width, height = image.get("file_name"), image.get("width"), image.get("height")
        if not isinstance(file_name, str) or not isinstance(width, int) or not isinstance(height, int):
            problems.append(f"image {image.get('id')}: file_name, width and height are required")
            continue
        if not (images / file_name).is_file():
            problems.append(f"image {image.get('id')}: {images / file_name} does not exist")
            continue
        frames[image.get("id")] = ImportedFrame(file_name, images / file_name, width, height)
    reader = _Annotations(frames, ids, person_category.get("id"), head_ids, rig)
    for annotation in document["annotations"]:
        problems += reader.add(annotation)
    if problems:
        raise CocoImportError(problems)
    return CocoFile(rig, list(frames.values()), bool(head_ids))


@dataclass
class _Annotations:
    """Adds a file's annotations to its frames, each checked against the file's images, categories and rig."""

    frames: dict[Any, ImportedFrame]
    ids: Counter[Any]
    person_id: Any
    head_ids: set[Any]
    rig: Rig

    def add(self, annotation: dict[str, Any]) -> list[str]:
        """Add ``annotation`` to its frame; the problems it has instead."""
        problem = self._add(annotation)
        return [f"annotation {annotation.get('id')}: {problem}"] if problem else []

    def _add(self, annotation: dict[str, Any]) -> str | None:
        image_id = annotation.get("image_id")
        if image_id not in self.ids:
            return f"image {image_id} is not in images"
        frame = self.frames.get(image_id)
        if frame is None:
            return None  # its image's own problem is reported already
        box = _box(annotation.get("bbox"), frame)
        return box if isinstance(box, str) else self._add_object(annotation, frame, box)

    def _add_object(
        self, annotation: dict[str, Any], frame: ImportedFrame, box: tuple[float, float, float, float]
    ) -> str | None:
        category = annotation.get("category_id")
        if category in self.head_ids and category != self.person_id:
            frame.heads.append(box)
            return None
        if category != self.person_id:
            return f"category {category} is neither the person nor a head category"
        points = _points(annotation.get("keypoints"), self.rig)
        if isinstance(points, str):
            return points
        frame.persons.append(ImportedPerson(box, points))
        return None


def _box(bbox: Any, frame: ImportedFrame) -> tuple[float, float, float, float] | str:
    """The box, or what is wrong with it."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
        return "bbox must be [x, y, width, height]"
    x, y, w, h = (float(v) for v in bbox)
    inside = x >= -BOX_SLACK_PX and y >= -BOX_SLACK_PX and w >= 0 and h >= 0
    if not inside or x + w > frame.width + BOX_SLACK_PX or y + h > frame.height + BOX_SLACK_PX:
        return f"bbox {bbox} lies outside its {frame.width}x{frame.height} image"
    return x, y, w, h


def _points(flat: Any, rig: Rig) -> list[dict[str, Any]] | str:
    """The located points in our shape, or what is wrong with the list."""
    if not isinstance(flat, list) or len(flat) != 3 * len(rig):
        return f"keypoints must hold {3 * len(rig)} numbers (x, y, v for each of {len(rig)} points)"
    points = []
    for name, px, py, flag in zip(rig.keypoints, flat[0::3], flat[1::3], flat[2::3], strict=True):
        if flag not in VISIBILITY_OF_FLAG:
            return f"{name} has visibility flag {flag!r}; COCO's are 0, 1, 2"
        if flag:
            points.append({"label": name, "x": float(px), "y": float(py), "visibility": VISIBILITY_OF_FLAG[flag]})
    return points


__all__ = ["HEAD_CATEGORY", "CocoFile", "CocoImportError", "ImportedFrame", "ImportedPerson", "read_coco"]
