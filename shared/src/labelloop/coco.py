"""COCO keypoints from label lines, with every point's visibility kept exactly.

COCO's flag is v = 0 outside (not labelled, x = y = 0), 1 occluded (labelled, not visible), 2 visible;
it is the one Labelloop's points carry as ``outside`` / ``occluded`` / ``visible``, so the mapping is a
bijection and nothing is rounded away. Categories: 1 ``person`` with the rig's keypoint names and
skeleton (COCO's 1-based indices), 2 ``head`` (a box, no keypoints). Every annotation says where it
came from: ``labelloop_source`` ``human`` (with the job), ``auto`` (with the detection's ``score`` and the
``labelloop_model_versions`` that gave it) or ``imported``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from labelloop.dataset import MODEL_VERSIONS_ATTRIBUTE
from labelloop.line_persons import line_persons
from labelloop.rig import Rig

VISIBILITY_FLAG = {"outside": 0, "occluded": 1, "visible": 2}
PERSON_CATEGORY, HEAD_CATEGORY = 1, 2
SOURCES = ("auto", "human", "imported")


def categories(rig: Rig) -> list[dict[str, Any]]:
    index = {name: i + 1 for i, name in enumerate(rig.keypoints)}
    return [
        {"id": PERSON_CATEGORY, "name": "person", "supercategory": "person", "keypoints": list(rig.keypoints),
         "skeleton": [[index[a], index[b]] for a, b in rig.skeleton], "labelloop_rig": rig.name},
        {"id": HEAD_CATEGORY, "name": "head", "supercategory": "person"},
    ]  # fmt: skip


def label_source(line: dict[str, Any], modality: str) -> str:
    """``human``, ``auto`` or ``imported``: who gave ``line``'s ``modality`` label."""
    metadata = line.get(f"{modality}-metadata") or {}
    if metadata.get("labelloop-source") == "imported":
        return "imported"
    return "human" if metadata.get("human-annotated") == "yes" else "auto"


def _size(line: dict[str, Any]) -> tuple[int, int]:
    properties = (line.get("keypoints") or {}).get("crowdKeypoint", {}).get("inputImageProperties") or {}
    if properties:
        return int(properties["width"]), int(properties["height"])
    [size] = (line.get("head") or {}).get("image_size") or [{"width": 0, "height": 0}]
    return int(size["width"]), int(size["height"])


class CocoBuilder:
    """Adds label lines one by one (a progress bar can follow); :meth:`dataset` is the COCO document."""

    def __init__(self, rig: Rig, sources: Iterable[str] = SOURCES) -> None:
        self.rig = rig
        self.sources = frozenset(sources)
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self._tracks: dict[tuple[str, int], int] = {}  # (clip folder, its track id) -> the export's

    def add(self, line: dict[str, Any], file_name: str, attributes: dict[str, str] | None = None) -> None:
        """Add one frame; ``attributes``: its taxonomy (``drive.weather``, ``clip.scene``, ``frame.*``)."""
        width, height = _size(line)
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "file_name": file_name, "width": width, "height": height,
                            "coco_url": line["source-ref"], "attributes": attributes or {}})  # fmt: skip
        if "keypoints" in line and (origin := self._origin(line, "keypoints")):
            for person in line_persons(line, width, height, self.rig, stored_boxes=True):
                flat: list[float] = []
                for name in self.rig.keypoints:
                    x, y, visibility = person.keypoints[name]
                    flag = VISIBILITY_FLAG[visibility]
                    flat += [round(x, 2), round(y, 2), flag] if flag else [0, 0, 0]
                self._annotate(image_id, PERSON_CATEGORY, person.box, origin, score=person.box_confidence,
                               keypoints=flat, num_keypoints=sum(1 for v in flat[2::3] if v),
                               track_id=self._track(line["source-ref"], person.track_id),
                               attributes=person.attributes)  # fmt: skip
        if "head" in line and (origin := self._origin(line, "head")):
            confidences = [o.get("confidence") for o in (line.get("head-metadata") or {}).get("objects", [])]
            for i, box in enumerate(line["head"].get("annotations", [])):
                self._annotate(image_id, HEAD_CATEGORY, (box["left"], box["top"], box["width"], box["height"]),
                               origin, score=confidences[i] if i < len(confidences) else None)  # fmt: skip

    def _track(self, source_ref: str, track_id: int | None) -> int | None:
        """The export's id for a clip's track: track ids count from 1 in every clip (a clip's frames
        share their folder), so the export numbers (clip, track) pairs once across all clips."""
        if track_id is None:
            return None
        return self._tracks.setdefault((source_ref.rsplit("/", 1)[0], track_id), len(self._tracks) + 1)

    def _origin(self, line: dict[str, Any], modality: str) -> dict[str, Any]:
        """Where ``line``'s ``modality`` label came from, as its annotations say it; empty: a source not exported."""
        source = label_source(line, modality)
        if source not in self.sources:
            return {}
        origin = {"labelloop_source": source, "labelloop_job": (line.get(f"{modality}-metadata") or {}).get(
            "job-name", "")}  # fmt: skip
        if source == "auto":
            origin["labelloop_model_versions"] = line.get(MODEL_VERSIONS_ATTRIBUTE) or {}
        return origin

    def _annotate(
        self,
        image_id: int,
        category: int,
        box: tuple[float, float, float, float],
        origin: dict[str, Any],
        *,
        score: float | None,
        keypoints: list[float] | None = None,
        num_keypoints: int = 0,
        track_id: int | None = None,
        attributes: dict[str, str] | None = None,
    ) -> None:
        annotation: dict[str, Any] = {
            "id": len(self.annotations) + 1, "image_id": image_id, "category_id": category,
            "bbox": [round(v, 2) for v in box], "area": round(box[2] * box[3], 2), "iscrowd": 0, **origin,
        }  # fmt: skip
        if keypoints is not None:
            annotation |= {"keypoints": keypoints, "num_keypoints": num_keypoints}
        if track_id is not None:  # PoseTrack's field: the same person across a video's frames
            annotation["track_id"] = track_id
        if attributes:  # the track's attributes, as CVAT's COCO keeps an annotation's
            annotation["attributes"] = attributes
        if origin["labelloop_source"] == "auto" and score is not None:
            annotation["score"] = round(float(score), 4)
        self.annotations.append(annotation)

    def dataset(self) -> dict[str, Any]:
        return {
            "info": {"description": "Labelloop export", "labelloop_rig": self.rig.name},
            "images": self.images,
            "annotations": self.annotations,
            "categories": categories(self.rig),
        }
