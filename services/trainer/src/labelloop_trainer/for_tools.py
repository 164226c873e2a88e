"""What the trainer makes public for ``labelloop_tools`` (the demo's random arm) and nothing else:
tools import a service only through such a module, so the service stays free to rearrange the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelloop.model_set import ModelName, read_set_folder

from labelloop_trainer.checkpoints import PreparedCheckpoint, prepare_checkpoint
from labelloop_trainer.collect import frame_name, labeled_frames, reserved_for_holdout
from labelloop_trainer.dataset import synthetic_holdout, write_training_sets
from labelloop_trainer.evaluation import judge
from labelloop_trainer.finetune import ModelFiles, fine_tune
from labelloop_trainer.settings import TrainerSettings
from labelloop_trainer.yolo_data import LabeledFrame, LabeledPerson, write_dataset

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "LabeledFrame",
    "LabeledPerson",
    "PreparedCheckpoint",
    "TrainerSettings",
    "frame_name",
    "prepare_checkpoint",
    "reserved_for_holdout",
    "train_comparison",
    "write_dataset",
]


def train_comparison(
    settings: TrainerSettings,
    s3: S3Client,
    lines: Iterable[dict[str, Any]],
    parent_weights: dict[ModelName, Path],
    root: Path,
) -> tuple[dict[ModelName, Path], dict[str, float]]:
    """A round's training and holdout evaluation on ``lines``, without registering or serving the
    result: a comparison arm (the demo's random arm), trained, measured and judged exactly like the
    loop's models (a model new to the set serves only if it beats its rule). Weights stay under ``root``."""
    model_set = read_set_folder(settings.initial_models)
    imgsz = settings.imgsz or model_set.imgsz
    holdout = synthetic_holdout(root, first_seed=settings.holdout_seed, size=settings.holdout_size,
                                camera=settings.holdout_camera, rig=model_set.rig)  # fmt: skip
    training_sets = write_training_sets(labeled_frames(s3, lines, rig=model_set.rig), holdout, root)
    # Only the weights of a parent's slot are needed: trained or carried over, each is exported anew.
    trained = fine_tune(training_sets, ModelFiles(parent_weights, {}), root, epochs=settings.epochs, imgsz=imgsz,
                        new_model_epochs=settings.new_model_epochs)  # fmt: skip
    judged = judge(trained, holdout, incumbent=tuple(parent_weights), workdir=root, imgsz=imgsz)
    return judged.candidate.weights, judged.metrics
