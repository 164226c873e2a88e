"""Step 1 of a round: the labels to train on, read from ``dataset/`` (the source of truth).

Human labels always count; confident auto-labels only when ``include_auto`` says so. Each
frame is fetched once and serves every model whose modality it has labels for.

A set measured on people's labels (any rig the synthetic generator cannot draw) reserves a share
of the frames people labelled as its holdout: chosen by a hash of the frame's URI, so a frame
once reserved stays reserved as labels accumulate, and is never trained on, not even through
an auto-label of another modality.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from labelloop import get_logger
from labelloop.dataset import HOLDOUT_MARK, effective_lines
from labelloop.line_persons import line_persons
from labelloop.model_set import MODEL_SET, ModelName
from labelloop.rig import Rig
from labelloop.s3_uri import split_s3_uri

from labelloop_trainer.yolo_data import LabeledFrame, LabeledPerson

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = get_logger()


@dataclass(frozen=True)
class CollectedLabels:
    frames: dict[ModelName, list[LabeledFrame]]
    """What the models train on."""
    reserved: dict[ModelName, list[LabeledFrame]]
    """People's labels kept for the holdout (empty when ``holdout_share`` is 0)."""
    data_hash: str
    """Identity of the labels (every effective line), recorded with the version trained on them."""
    lines: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Every effective line, by frame URI."""

    def training_lines(self) -> list[dict[str, Any]]:
        """The lines of the frames the models train on (the people's holdout left out)."""
        trained = {frame.name for frames in self.frames.values() for frame in frames}
        return [line for uri, line in self.lines.items() if frame_name(uri) in trained]


def collect_labels(
    s3: S3Client,
    data_bucket: str,
    *,
    rig: Rig,
    include_auto: bool = False,
    auto_min_confidence: float = 1.0,
    holdout_share: float = 0.0,
) -> CollectedLabels:
    """Every effective manifest line of ``dataset/``, turned into frames (of ``rig``'s points) per
    model: to train on, and, a ``holdout_share`` of people's, to measure on."""
    lines = effective_lines(s3, data_bucket)
    frames = labeled_frames(s3, lines.values(), rig=rig, include_auto=include_auto,
                            auto_min_confidence=auto_min_confidence)  # fmt: skip
    train, reserved = split_reserved(frames, holdout_share)
    return CollectedLabels(train, reserved, data_hash(lines), lines)


def frame_name(source_ref: str) -> str:
    """A labelled frame's name in the datasets: a digest of its URI (unique, stable, a safe file stem)."""
    return hashlib.sha256(source_ref.encode()).hexdigest()[:16]


def reserved_for_holdout(name: str, share: float) -> bool:
    """Whether the frame named ``name`` (a hex digest) belongs to the people's holdout."""
    return int(name[:8], 16) % 10_000 < round(share * 10_000)


def split_reserved(
    frames: dict[ModelName, list[LabeledFrame]], share: float
) -> tuple[dict[ModelName, list[LabeledFrame]], dict[ModelName, list[LabeledFrame]]]:
    """(training frames, holdout frames) per model: people's labels of a reserved frame (by the hash rule,
    or imported as holdout) measure, its auto-labels are dropped, every other frame trains."""
    train: dict[ModelName, list[LabeledFrame]] = {model: [] for model in frames}
    reserved: dict[ModelName, list[LabeledFrame]] = {model: [] for model in frames}
    for model, chosen in frames.items():
        for frame in chosen:
            if not (frame.holdout or reserved_for_holdout(frame.name, share)):
                train[model].append(frame)
            elif frame.human:
                reserved[model].append(frame)
    return train, reserved


def _human(line: dict[str, Any], modality: str) -> bool:
    return (line.get(f"{modality}-metadata") or {}).get("human-annotated") == "yes"


def _confident(line: dict[str, Any], modality: str, minimum: float) -> bool:
    metadata = line.get(f"{modality}-metadata") or {}
    if modality == "head":
        scores = [o.get("confidence", 0.0) for o in metadata.get("objects", [])]
    else:
        scores = [c["main"] for person in metadata.get("persons", []) for c in person.get("keypoint-confidences", [])]
    return bool(scores) and min(scores) >= minimum


def _persons(line: dict[str, Any], width: int, height: int, rig: Rig) -> tuple[LabeledPerson, ...]:
    """Skeletons from crowdKeypoint points. A person's box is the one a person drew (the portal keeps it in
    the metadata's ``persons``); else it spans the located points, padded 10%. (A model's stored box is not
    trusted here: auto-labels train on the box around their points, as they always have.)"""
    human = (line.get("keypoints-metadata") or {}).get("human-annotated") == "yes"
    return tuple(
        LabeledPerson(box=person.box, keypoints=person.keypoints)  # type: ignore[arg-type]
        for person in line_persons(line, width, height, rig, stored_boxes=human)
    )


def labeled_frames(
    s3: S3Client,
    lines: Iterable[dict[str, Any]],
    *,
    rig: Rig,
    include_auto: bool = False,
    auto_min_confidence: float = 1.0,
) -> dict[ModelName, list[LabeledFrame]]:
    """The training frames per model: human labels, and confident auto-labels if ``include_auto``."""
    chosen: dict[ModelName, list[LabeledFrame]] = {model: [] for model in MODEL_SET}
    for line in lines:
        use = {
            modality: _human(line, modality) or (include_auto and _confident(line, modality, auto_min_confidence))
            for modality in ("head", "keypoints")
        }
        if not any(use.values()):
            continue
        bucket, key = split_s3_uri(line["source-ref"])
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        image: np.ndarray | None = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)  # type: ignore[type-arg]
        if image is None:
            log.warning("trainer.undecodable_frame", frame=line["source-ref"])
            continue
        height, width = image.shape[:2]
        heads = tuple(
            (float(a["left"]), float(a["top"]), float(a["width"]), float(a["height"]))
            for a in (line.get("head") or {}).get("annotations", [])
        )
        held = any((line.get(f"{m}-metadata") or {}).get(HOLDOUT_MARK) for m in ("head", "keypoints"))
        frame = LabeledFrame(name=frame_name(line["source-ref"]), image=np.asarray(image),
                             persons=_persons(line, width, height, rig), heads=heads, holdout=held)  # fmt: skip
        if use["head"]:
            chosen["head"].append(replace(frame, human=_human(line, "head")))
        if use["keypoints"]:
            keypoints = replace(frame, human=_human(line, "keypoints"))
            chosen["pose_main"].append(keypoints)
            chosen["pose_visible"].append(keypoints)
    return chosen


def data_hash(lines: dict[str, dict[str, Any]]) -> str:
    """Identity of the labels a round trained on (order-independent)."""
    digest = hashlib.sha256()
    for source_ref in sorted(lines):
        digest.update(json.dumps(lines[source_ref], sort_keys=True).encode())
    return digest.hexdigest()[:16]
