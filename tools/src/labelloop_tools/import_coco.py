"""``labelloop import coco``: a team's labelled set brought in as people's labels, source ``imported``.

The file is checked whole first (:func:`labelloop.coco_import.read_coco`); only then are the images
uploaded to ``frames/imported-<name>/`` of the data bucket and each frame's labels written where
gt-bridge writes people's (``dataset/human/imported-<name>/<n>-<modality>-l1.json``), with
``labelloop-source: imported`` (and the holdout mark with ``--as-holdout``). A ``LabelsCompleted`` per
frame and modality then counts them towards training, as people's labels are counted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from labelloop import EventPublisher, FrameRef, LabelsCompleted
from labelloop.coco_import import CocoFile, ImportedFrame
from labelloop.dataset import HOLDOUT_MARK, HUMAN_PREFIX
from labelloop.events import deterministic_id
from labelloop.groundtruth import creation_date
from labelloop.s3_uri import s3_uri

if TYPE_CHECKING:
    from labelloop_tools.cli._target import Target


def clip_of(name: str) -> str:
    """The clip id imported frames share: ``imported-<name>`` in the characters keys and ids allow."""
    return "imported-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "set")


def _labels(frame: ImportedFrame, uri: str, metadata: dict[str, Any], *, heads: bool) -> dict[str, dict[str, Any]]:
    """The frame's label lines per modality, in the shapes people's answers have."""
    points = [{**point, "person": index} for index, person in enumerate(frame.persons) for point in person.points]
    boxes = [
        {"box": dict(zip(("left", "top", "width", "height"), person.box, strict=True))} for person in frame.persons
    ]
    labels = {"keypoints": {
        "source-ref": uri,
        "keypoints": {"crowdKeypoint": {"inputImageProperties": {"width": frame.width, "height": frame.height},
                                        "keypoints": points}},
        "keypoints-metadata": {**metadata, "type": "groundTruth/custom", "persons": boxes},
    }}  # fmt: skip
    if heads:
        labels["head"] = {
            "source-ref": uri,
            "head": {"image_size": [{"width": frame.width, "height": frame.height, "depth": 3}],
                     "annotations": [{"class_id": 0, "left": round(x), "top": round(y), "width": round(w),
                                      "height": round(h)} for x, y, w, h in frame.heads]},
            "head-metadata": {**metadata, "type": "groundtruth/object-detection", "class-map": {"0": "head"},
                              "objects": [{"confidence": 1.0} for _ in frame.heads]},
        }  # fmt: skip
    return labels


def import_coco(
    target: Target, coco: CocoFile, name: str, *, as_holdout: bool = False, advance: Callable[[], None] = lambda: None
) -> int:
    """Upload ``coco``'s images and write its labels; announce them to the trainer. How many frames."""
    s3, bucket = target.clients.s3, target.names.physical("data")
    clip = clip_of(name)
    metadata: dict[str, Any] = {"human-annotated": "yes", "labelloop-source": "imported",
                                "job-name": f"labelloop/import/{clip}", "creation-date": creation_date(
                                    datetime.now(UTC).timestamp())}  # fmt: skip
    if as_holdout:
        metadata[HOLDOUT_MARK] = True
    events = []
    for number, frame in enumerate(coco.frames):
        key = f"frames/{clip}/{frame.file_name}"
        s3.put_object(Bucket=bucket, Key=key, Body=frame.path.read_bytes(), ContentType="image/jpeg")
        uri = s3_uri(bucket, key)
        ref = FrameRef(uri=uri, frame_no=number, timestamp_s=0.0, width=frame.width, height=frame.height)
        for modality, label in _labels(frame, uri, metadata, heads=coco.has_heads).items():
            label_key = f"{HUMAN_PREFIX}{clip}/{number:06d}-{modality}-l1.json"
            s3.put_object(Bucket=bucket, Key=label_key, Body=json.dumps(label).encode(), ContentType="application/json")
            events.append(LabelsCompleted(
                event_id=deterministic_id("LabelsCompleted", "import", uri, modality), correlation_id=clip,
                clip_id=clip, frame=ref, modality=modality, level=1, job_name=metadata["job-name"],
                dataset_object_id=f"{clip}/{number}/{modality}", output_uri=s3_uri(bucket, label_key),
            ))  # fmt: skip
        advance()
    EventPublisher.for_stack(target.clients, target.names).publish_all(events)
    return len(coco.frames)
