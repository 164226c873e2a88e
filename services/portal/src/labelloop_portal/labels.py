"""Output label attributes in Ground Truth's shapes, whoever answered (a person or the simulation)."""

from __future__ import annotations

from typing import Any

from labelloop.groundtruth import creation_date
from labelloop.portal_api import PortalJob


def output_label(
    job: PortalJob, content: dict[str, Any], now: float, line: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """``{<LAN>: content, <LAN>-metadata: ...}`` for ``job``; level 2 says whether it adjusted."""
    metadata: dict[str, Any] = {
        "type": "groundtruth/object-detection" if job.modality == "head" else "groundTruth/custom",
        "human-annotated": "yes",
        "creation-date": creation_date(now),
        "job-name": f"labeling-job/{job.name}",
        **extra,
    }
    if job.modality == "head":
        metadata["class-map"] = {"0": "head"}
        metadata["objects"] = [{"confidence": 1.0} for _ in content.get("annotations", [])]
    if job.level == 2:
        metadata["adjustment-status"] = "unadjusted" if line.get(job.modality) == content else "adjusted"
    return {job.label_attribute: content, f"{job.label_attribute}-metadata": metadata}


def head_content(width: int, height: int, boxes: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "image_size": [{"width": width, "height": height, "depth": 3}],
        "annotations": [
            {"class_id": 0, **{k: round(box[k]) for k in ("left", "top", "width", "height")}} for box in boxes
        ],
    }


def keypoints_content(width: int, height: int, points: list[dict[str, Any]]) -> dict[str, Any]:
    return {"crowdKeypoint": {"inputImageProperties": {"height": height, "width": width}, "keypoints": points}}
