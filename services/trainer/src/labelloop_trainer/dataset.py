"""Step 2 of a round: the YOLO datasets, one per model: the fixed holdout and the training sets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labelloop.model_set import MODEL_SET, ModelName
from labelloop.rig import Rig
from labelloop.synth.scene import Camera

from labelloop_trainer.initial_models import synthetic_frames
from labelloop_trainer.yolo_data import LabeledFrame, write_dataset

SCENE_SIZE = (320, 240)
"""Width and height of the synthetic holdout and validation scenes (pixels)."""
VALIDATION_SCENES = 16
"""Ultralytics validates while it trains; the first scenes of the holdout serve (not for promotion)."""


@dataclass(frozen=True)
class Holdout:
    """The fixed synthetic holdout every candidate is measured on: its seeds and a dataset per model."""

    seeds: range
    camera: Camera
    rig: Rig
    data: dict[ModelName, Path]


def write_holdout(root: Path, *, first_seed: int, size: int, camera: Camera, rig: Rig) -> Holdout:
    """The holdout's datasets written under ``root/holdout``."""
    seeds = range(first_seed, first_seed + size)
    width, height = SCENE_SIZE
    data = {
        model: write_dataset(
            root / "holdout" / model,
            {"val": synthetic_frames(seeds, width=width, height=height, camera=camera)},
            model,
            rig,
        )
        for model in MODEL_SET
    }
    return Holdout(seeds, camera, rig, data)


def write_training_sets(
    frames: dict[ModelName, list[LabeledFrame]], holdout: Holdout, root: Path
) -> dict[ModelName, Path | None]:
    """A dataset per model that has frames (None for a model with nothing new to learn)."""
    if not any(frames.values()):
        return dict.fromkeys(MODEL_SET, None)
    width, height = SCENE_SIZE
    val: Sequence[LabeledFrame] = list(
        synthetic_frames(holdout.seeds[:VALIDATION_SCENES], width=width, height=height, camera=holdout.camera)
    )
    return {
        model: write_dataset(root / "data" / model, {"train": frames[model], "val": val}, model, holdout.rig)
        if frames[model]
        else None
        for model in MODEL_SET
    }
