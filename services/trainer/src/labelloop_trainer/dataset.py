"""Step 2 of a round: the YOLO datasets: the holdout every candidate is measured on, and the
training sets.

The holdout is either **synthetic** (scenes rendered with their truth: fixed, the same every
round; the in-cabin rig only) or **people's** (the frames :mod:`labelloop_trainer.collect`
reserved from human labels: it grows as people label, and both the serving set and the candidate
are measured on this round's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from labelloop.model_set import MODEL_SET, ModelName
from labelloop.rig import IN_CABIN_17, Rig
from labelloop.synth.scene import Camera

from labelloop_trainer.initial_models import synthetic_frames
from labelloop_trainer.yolo_data import LabeledFrame, write_dataset

HoldoutSource = Literal["synthetic", "people"]
SCENE_SIZE = (320, 240)
"""Width and height of the synthetic holdout and validation scenes (pixels)."""
VALIDATION_FRAMES = 16
"""Ultralytics validates while it trains; the first frames of the holdout serve (not for promotion)."""


class HoldoutError(LookupError):
    """No holdout to measure a round on, with the reason."""


@dataclass(frozen=True)
class Holdout:
    """The frames every candidate of a round is measured on, per model, and ``pose_main``'s as a
    YOLO dataset (for Ultralytics' mAPs)."""

    source: HoldoutSource
    frames: dict[ModelName, tuple[LabeledFrame, ...]]
    rig: Rig
    pose_data: Path


def holdout_source(setting: Literal["auto", "synthetic", "people"], rig: Rig) -> HoldoutSource:
    """``auto``: synthetic for the in-cabin rig (the generator draws it), people's for any other."""
    if setting == "auto":
        return "synthetic" if rig == IN_CABIN_17 else "people"
    if setting == "synthetic" and rig != IN_CABIN_17:
        raise HoldoutError(f"the synthetic holdout draws the in-cabin rig only, not {rig.name!r}")
    return setting


def synthetic_holdout(root: Path, *, first_seed: int, size: int, camera: Camera, rig: Rig) -> Holdout:
    """The fixed synthetic holdout, written under ``root/holdout``."""
    width, height = SCENE_SIZE
    frames = tuple(synthetic_frames(range(first_seed, first_seed + size), width=width, height=height, camera=camera))
    return _holdout(root, "synthetic", dict.fromkeys(MODEL_SET, frames), rig)


def people_holdout(root: Path, reserved: dict[ModelName, list[LabeledFrame]], *, rig: Rig, minimum: int) -> Holdout:
    """The holdout of people's reserved labels; HoldoutError while it has fewer than ``minimum``
    frames with keypoints (the round waits for more labels)."""
    if len(reserved["pose_main"]) < minimum:
        raise HoldoutError(
            f"people's holdout has {len(reserved['pose_main'])} frames with keypoints, a round needs {minimum}"
        )
    return _holdout(root, "people", {model: tuple(reserved[model]) for model in MODEL_SET}, rig)


def _holdout(root: Path, source: HoldoutSource, frames: dict[ModelName, tuple[LabeledFrame, ...]], rig: Rig) -> Holdout:
    pose_data = write_dataset(root / "holdout" / "pose_main", {"val": frames["pose_main"]}, "pose_main", rig)
    return Holdout(source, frames, rig, pose_data)


def write_training_sets(
    frames: dict[ModelName, list[LabeledFrame]], holdout: Holdout, root: Path
) -> dict[ModelName, Path | None]:
    """A dataset per model that has frames (None for a model with nothing new to learn)."""
    sets: dict[ModelName, Path | None] = dict.fromkeys(MODEL_SET)
    for model in MODEL_SET:
        if frames[model]:
            # A holdout without head labels still has images: Ultralytics validates on them as background.
            val: Sequence[LabeledFrame] = (holdout.frames[model] or holdout.frames["pose_main"])[:VALIDATION_FRAMES]
            sets[model] = write_dataset(root / "data" / model, {"train": frames[model], "val": val}, model, holdout.rig)
    return sets
