"""Ground Truth's Lambdas for our task types; the ECS template deploys a pair per type from this file.

TASK_TYPE (head, keypoints, adjustment) picks the type. Stdlib and boto3 only: the template inlines it.
"""

import json
import os
from typing import Any

OCCLUDED = " (occluded)"


def _modality(line: dict[str, Any]) -> str:
    if os.environ["TASK_TYPE"] != "adjustment":
        return os.environ["TASK_TYPE"]
    return "head" if "head" in line else "keypoints"


def pre(event: dict[str, Any], _context: object) -> dict[str, Any]:
    """The task's input: the image, point names, and what to start from (the model's or level 1's)."""
    line = event["dataObject"]
    modality = _modality(line)
    if os.environ["TASK_TYPE"] == "adjustment":
        start = line.get(modality) or line.get(modality + "-adjusted") or {}
    else:
        start = (line.get("labelloop-prefill") or {}).get(modality) or {}
    if modality == "head":
        initial = [dict(label="head", **{k: b[k] for k in ("left", "top", "width", "height")})
                   for b in start.get("annotations", [])]  # fmt: skip
    else:
        initial = [{"label": p["label"] + (OCCLUDED if p.get("visibility") == "occluded" else ""),
                    "x": p["x"], "y": p["y"]}
                   for p in start.get("crowdKeypoint", {}).get("keypoints", [])
                   if p.get("visibility") != "outside"]  # fmt: skip
    names = (line.get("labelloop-frame") or {}).get("keypoint_names") or []
    return {"taskInput": {"taskObject": line["source-ref"], "modality": modality, "initialValue": initial,
                          "keypointLabels": names + [n + OCCLUDED for n in names]},
            "isHumanAnnotationRequired": "true"}  # fmt: skip


def keypoints_content(answer: dict[str, Any]) -> dict[str, Any]:
    """crowd-keypoint's points → ours: "<name> (occluded)" is occluded, a name placed again starts the
    next person, a name never placed is outside (absent)."""
    points: list[dict[str, Any]] = []
    person, seen = 0, set[str]()
    for p in answer["keypoints"]:
        occluded = p["label"].endswith(OCCLUDED)
        name = p["label"][: -len(OCCLUDED)] if occluded else p["label"]
        if name in seen:
            person, seen = person + 1, set()
        seen.add(name)
        points.append({"label": name, "x": p["x"], "y": p["y"], "person": person,
                       "visibility": "occluded" if occluded else "visible"})  # fmt: skip
    return {"crowdKeypoint": {"inputImageProperties": answer["inputImageProperties"], "keypoints": points}}


def head_content(answer: dict[str, Any]) -> dict[str, Any]:
    size = answer["inputImageProperties"]
    return {"image_size": [{"width": size["width"], "height": size["height"], "depth": 3}],
            "annotations": [{"class_id": 0, **{k: round(b[k]) for k in ("left", "top", "width", "height")}}
                            for b in answer["boundingBoxes"]]}  # fmt: skip


def consolidate(event: dict[str, Any], _context: object) -> list[dict[str, Any]]:
    """One worker per object: its answer in our label shape, under the job's label attribute."""
    import boto3  # noqa: PLC0415 - the Lambda runtime's; imported here so tests of pre need none

    bucket, _, key = event["payload"]["s3Uri"].removeprefix("s3://").partition("/")
    objects = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    consolidated = []
    for obj in objects:
        [annotation] = obj["annotations"]
        answer = json.loads(annotation["annotationData"]["content"])
        if "boundingBox" in answer:
            content = head_content(answer["boundingBox"])
        else:
            content = keypoints_content(answer["annotatedResult"])
        labelled = {"content": {event["labelAttributeName"]: content}}
        consolidated.append({"datasetObjectId": obj["datasetObjectId"], "consolidatedAnnotation": labelled})
    return consolidated
