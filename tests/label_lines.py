"""Label lines as the dataset stores them, on the COCO-17 rig: every visibility, two persons a frame."""

from __future__ import annotations

from typing import Any

from labelloop.rig import COCO17

VISIBILITY = ("visible", "occluded", "outside")


def label_line(uri: str, *, human: bool, persons: int = 2) -> dict[str, Any]:
    points = [
        {"label": name, "x": 100.0 + 9 * i + 150 * p, "y": 80.0 + 11 * i, "visibility": VISIBILITY[(i + p) % 3],
         "person": p}
        for p in range(persons) for i, name in enumerate(COCO17.keypoints)
    ]  # fmt: skip
    annotated = "yes" if human else "no"
    boxes = [{"box": {"left": 90 + 150 * p, "top": 70, "width": 170, "height": 200, "confidence": 0.8}}
             for p in range(persons)] if not human else []  # fmt: skip
    return {
        **({} if human else {"labelloop-model-versions": {"pose_main": "3", "head": "2"}}),
        "source-ref": uri,
        "keypoints": {"crowdKeypoint": {"inputImageProperties": {"width": 640, "height": 480}, "keypoints": points}},
        "keypoints-metadata": {"human-annotated": annotated, "job-name": "j", "persons": boxes},
        "head": {"image_size": [{"width": 640, "height": 480, "depth": 3}],
                 "annotations": [{"class_id": 0, "left": 110, "top": 75, "width": 30, "height": 35}]},
        "head-metadata": {"human-annotated": annotated, "objects": [{"confidence": 0.9}], "job-name": "j"},
    }  # fmt: skip
