"""Labeled frames → Ultralytics YOLO datasets, one per model, with each model's labeling rule.

The three models learn different things from the same labels, and this is the one place that
says how (ARCHITECTURE.md "inference"):

* ``pose_main`` learns every labeled point: visible *and* occluded points are targets;
* ``pose_visible`` learns visible points only, so its confidence answers "can you see it?";
* ``head`` learns head boxes.

Points outside the frame are never targets. Together the two pose models' confidences give the
visibility rule its two inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from labelloop.events import Visibility
from labelloop.model_set import ModelName
from labelloop.rig import Rig
from numpy.typing import NDArray

Box = tuple[float, float, float, float]  # left, top, width, height in pixels


@dataclass(frozen=True)
class LabeledPerson:
    box: Box
    keypoints: dict[str, tuple[float, float, Visibility]]


@dataclass(frozen=True)
class LabeledFrame:
    """One image and its labels, whatever they came from (a manifest line, the synthetic generator)."""

    name: str  # unique within a dataset; becomes the file stem
    image: NDArray[np.uint8]  # BGR
    persons: tuple[LabeledPerson, ...]
    heads: tuple[Box, ...]
    human: bool = True  # labelled by people (or rendered with its truth); False: an auto-label
    holdout: bool = False  # a team's own holdout frame (imported with --as-holdout): measured on, never trained on


def _yolo_box(box: Box, width: int, height: int) -> str:
    left, top, w, h = box
    return f"{(left + w / 2) / width:.6f} {(top + h / 2) / height:.6f} {w / width:.6f} {h / height:.6f}"


def _point_flag(visibility: Visibility, model: ModelName) -> int:
    """YOLO's keypoint flag: 0 = not a target; 1/2 = a target (occluded / visible)."""
    if visibility == "visible":
        return 2
    if visibility == "occluded" and model == "pose_main":
        return 1
    return 0


def label_lines(frame: LabeledFrame, model: ModelName, rig: Rig) -> list[str]:
    """The YOLO label file's lines for ``frame`` as training data for ``model``."""
    height, width = frame.image.shape[:2]
    if model == "head":
        return [f"0 {_yolo_box(box, width, height)}" for box in frame.heads]
    lines = []
    for person in frame.persons:
        fields = [f"0 {_yolo_box(person.box, width, height)}"]
        for name in rig.keypoints:
            x, y, visibility = person.keypoints[name]
            flag = _point_flag(visibility, model)
            # Non-targets are written as zeros, as Ultralytics' own converters do.
            fields.append(f"{x / width:.6f} {y / height:.6f} {flag}" if flag else "0 0 0")
        lines.append(" ".join(fields))
    return lines


def write_dataset(
    root: Path,
    splits: Mapping[str, Iterable[LabeledFrame]],
    model: ModelName,
    rig: Rig,
    *,
    jpeg_quality: int = 90,
) -> Path:
    """Write images, labels and ``data.yaml`` under ``root``; returns the ``data.yaml`` path.

    ``splits`` maps a split name (``train``, ``val``) to its frames.
    """
    counts = {}
    for split, frames in splits.items():
        images, labels = root / "images" / split, root / "labels" / split
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        count = 0
        for frame in frames:
            cv2.imwrite(str(images / f"{frame.name}.jpg"), frame.image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            (labels / f"{frame.name}.txt").write_text("\n".join(label_lines(frame, model, rig)) + "\n")
            count += 1
        counts[split] = count
    config: dict[str, object] = {
        "path": str(root.resolve()),
        **{split: f"images/{split}" for split in splits},
        # Ultralytics insists on a train split even to validate: an evaluation-only set names its own.
        **({} if "train" in splits else {"train": f"images/{next(iter(splits))}"}),
        "names": {0: "head" if model == "head" else "person"},
    }
    if model != "head":
        config["kpt_shape"] = [len(rig), 3]
        config["flip_idx"] = rig.flip_index
        config["kpt_names"] = {0: list(rig.keypoints)}
        # Ultralytics' pose mAP uses COCO's sigmas for any 17-point rig, in COCO's order: the rig's own
        # (COCO's for coco17) keep an in-cabin mouth from being scored like a COCO eye.
        config["kpt_oks_sigmas"] = list(rig.oks_sigmas)
    data_yaml = root / "data.yaml"
    data_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    return data_yaml
