"""``labelloop export``: the stack's labels as COCO keypoints or Ground Truth output-manifest lines.

Both read the dataset as the trainer does (:func:`labelloop.dataset.effective_lines`: per frame the
newest auto-label, each modality replaced by people's highest-level label) and keep each point's
visibility exactly. ``sources`` keeps only labels given by auto-acceptance, people, or an import.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np
from labelloop.coco import SOURCES, CocoBuilder, label_source
from labelloop.dataset import MODALITIES, effective_lines, read_snapshot
from labelloop.line_persons import line_persons
from labelloop.model_registry import Registry
from labelloop.rig import COCO17, Rig
from labelloop.s3_uri import split_s3_uri
from labelloop.track_attributes import carry_track_attributes
from labelloop_trainer.for_tools import (
    LabeledFrame,
    LabeledPerson,
    TrainerSettings,
    frame_name,
    reserved_for_holdout,
    write_dataset,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from labelloop_tools.cli._target import Target

ExportFormat = Literal["coco", "yolo", "gt-manifest"]
FORMATS: tuple[ExportFormat, ...] = ("coco", "yolo", "gt-manifest")


def serving_rig(target: Target) -> Rig:
    """The rig of the set the stack serves (COCO-17 before any is installed)."""
    serving = Registry(target.clients.dynamodb, target.names.physical("models")).serving_set()
    return serving[1].rig if serving else COCO17


def dataset_lines(target: Target) -> list[dict[str, Any]]:
    """The stack's current label lines, by frame URI."""
    lines = effective_lines(target.clients.s3, target.names.physical("data"))
    return [lines[uri] for uri in sorted(lines)]


def frame_attributes(s3: S3Client, lines: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Frame URI → its taxonomy, flattened (``drive.weather``, ``clip.scene``, ``frame.<attribute>``), from each
    clip's frame manifest (ingest's ``frames/<clip>/manifest.jsonl``); frames without one get none."""
    folders = {split_s3_uri(line["source-ref"]) for line in lines}
    manifests = {(bucket, "/".join(key.split("/")[:2]) + "/manifest.jsonl") for bucket, key in folders}
    found: dict[str, dict[str, str]] = {}
    for bucket, key in sorted(manifests):
        try:
            text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        except s3.exceptions.NoSuchKey:
            continue
        for entry in map(json.loads, filter(str.strip, text.splitlines())):
            taxonomy = entry.get("taxonomy") or {}
            found[entry["uri"]] = {
                **{f"{level}.{name}": value for level in ("drive", "clip") for name, value in
                   (taxonomy.get(level) or {}).items()},
                **{f"frame.{name}": value for name, value in (entry.get("attributes") or {}).items()},
            }  # fmt: skip
    return found


def version_lines(target: Target, version: int) -> list[dict[str, Any]]:
    """The lines model version ``version`` trained on (the snapshot under the data hash it records)."""
    record = Registry(target.clients.dynamodb, target.names.physical("models")).version(version)
    if record is None:
        raise ExportError(f"there is no model version {version} (labelloop models lists them)")
    lines = read_snapshot(target.clients.s3, target.names.physical("data"), record.data_hash)
    if lines is None:
        raise ExportError(f"version {version} (data {record.data_hash}) was trained before the trainer kept the "
                          "sets it trained on; export without --version")  # fmt: skip
    return lines


def manifest_line(line: dict[str, Any], sources: Iterable[str]) -> dict[str, Any] | None:
    """``line`` with only the modalities whose label came from ``sources``; None when none did."""
    keep = frozenset(sources)
    kept = dict(line)
    for modality in MODALITIES:
        if modality in line and label_source(line, modality) not in keep:
            kept.pop(modality)
            kept.pop(f"{modality}-metadata", None)
    return kept if any(modality in kept for modality in MODALITIES) else None


def export(
    lines: list[dict[str, Any]],
    out: Path,
    fmt: Literal["coco", "gt-manifest"],
    rig: Rig,
    *,
    sources: Iterable[str] = SOURCES,
    advance: Callable[[], None] = lambda: None,
    attributes: dict[str, dict[str, str]] | None = None,
) -> int:
    """Write ``lines`` to ``out`` in ``fmt``; how many frames it holds. (YOLO needs the images: :func:`export_yolo`.)
    ``attributes``: each frame's taxonomy (:func:`frame_attributes`), for COCO's images."""
    attributes = attributes or {}
    lines = carry_track_attributes(lines)  # said once per track, given to every frame of it
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "coco":
        builder = CocoBuilder(rig, sources)
        for line in lines:
            builder.add(line, split_s3_uri(line["source-ref"])[1], attributes.get(line["source-ref"]))
            advance()
        out.write_text(json.dumps(builder.dataset()))
        return len(builder.images)
    written = 0
    with out.open("w") as manifest:
        for line in lines:
            if (kept := manifest_line(line, sources)) is not None:
                manifest.write(json.dumps(kept) + "\n")
                written += 1
            advance()
    return written


def export_yolo(
    s3: S3Client,
    lines: list[dict[str, Any]],
    out: Path,
    rig: Rig,
    *,
    sources: Iterable[str] = SOURCES,
    split: bool = False,
    advance: Callable[[], None] = lambda: None,
) -> int:
    """An Ultralytics pose dataset under the folder ``out``: ``data.yaml`` (``kpt_shape``, ``flip_idx``, the
    rig's names and OKS sigmas), ``images/`` and ``labels/`` per split, each point's YOLO flag its
    visibility (2 visible, 1 occluded, 0 outside). With ``split`` the ``val`` split holds the frames the
    trainer reserves for its people's holdout (``HOLDOUT_SHARE``); without, ``train`` holds all."""
    settings = TrainerSettings()
    splits: dict[str, list[LabeledFrame]] = {"train": [], "val": []} if split else {"train": []}
    for line in lines:
        kept = manifest_line(line, sources)
        if kept is not None and "keypoints" in kept:
            bucket, key = split_s3_uri(line["source-ref"])
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise ExportError(f"{line['source-ref']} is not a decodable image")
            height, width = image.shape[:2]
            persons = tuple(LabeledPerson(p.box, p.keypoints)  # type: ignore[arg-type]
                            for p in line_persons(kept, width, height, rig, stored_boxes=True))  # fmt: skip
            name = frame_name(line["source-ref"])
            held = split and reserved_for_holdout(name, settings.holdout_share)
            splits["val" if held else "train"].append(LabeledFrame(name, np.asarray(image), persons, heads=()))
        advance()
    write_dataset(out, splits, "pose_main", rig)
    return sum(len(frames) for frames in splits.values())


class ExportError(RuntimeError):
    """The dataset cannot be exported as asked (an image that does not decode)."""
