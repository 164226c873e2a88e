"""Dataset manifest lines in SageMaker Ground Truth's augmented-manifest format.

One JSON object per frame with two label attributes (GROUND_TRUTH_PROTOCOL.md "Output line
shapes"): ``head`` in the built-in object-detection shape, and ``keypoints`` in the custom
crowd-keypoint shape extended with ``visibility`` (and ``person``, the index of the skeleton the
point belongs to). Auto-labels and human labels share the format; ``human-annotated`` and the
metadata's confidences tell them apart, so one reader serves the trainer and the evaluator.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from labelloop.events import FramePredictions

HEAD_ATTRIBUTE = "head"
KEYPOINTS_ATTRIBUTE = "keypoints"


@lru_cache(maxsize=16)
def _creation_date(created: datetime) -> str:
    # Cached: a batch's lines share one judgement time, and strftime was a tenth of building them.
    return created.strftime("%Y-%m-%dT%H:%M:%S")


def augmented_manifest_line(
    predictions: FramePredictions, *, human_annotated: bool, job_name: str, created: datetime
) -> dict[str, Any]:
    """The manifest line for one frame's labels (predictions or human answers)."""
    frame = predictions.frame
    created_at = _creation_date(created)
    annotated = "yes" if human_annotated else "no"
    return {
        "source-ref": frame.uri,
        HEAD_ATTRIBUTE: {
            "image_size": [{"width": frame.width, "height": frame.height, "depth": 3}],
            "annotations": [
                {
                    "class_id": 0,
                    "left": round(box.left),
                    "top": round(box.top),
                    "width": round(box.width),
                    "height": round(box.height),
                }
                for box in predictions.heads
            ],
        },
        f"{HEAD_ATTRIBUTE}-metadata": {
            "objects": [{"confidence": box.confidence} for box in predictions.heads],
            "class-map": {"0": "head"},
            "type": "groundtruth/object-detection",
            "human-annotated": annotated,
            "creation-date": created_at,
            "job-name": job_name,
        },
        KEYPOINTS_ATTRIBUTE: {
            "crowdKeypoint": {
                "inputImageProperties": {"height": frame.height, "width": frame.width},
                "keypoints": [
                    {"label": point.name, "x": point.x, "y": point.y, "visibility": point.visibility, "person": index}
                    for index, person in enumerate(predictions.persons)
                    for point in person.keypoints
                ],
            }
        },
        f"{KEYPOINTS_ATTRIBUTE}-metadata": {
            "job-name": job_name,
            "type": "groundTruth/custom",
            "human-annotated": annotated,
            "creation-date": created_at,
            "persons": [
                {
                    "box": {
                        "left": person.box.left,
                        "top": person.box.top,
                        "width": person.box.width,
                        "height": person.box.height,
                        "confidence": person.box.confidence,
                    },
                    "keypoint-confidences": [
                        {"main": point.main_confidence, "visible": point.visible_confidence}
                        for point in person.keypoints
                    ],
                    # the same person in the clip's other frames (Person.track_id); absent: not tracked
                    **({"track-id": person.track_id} if person.track_id is not None else {}),
                }
                for person in predictions.persons
            ],
        },
    }
