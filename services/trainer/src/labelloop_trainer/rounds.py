"""One training round, top-down: collect labels → holdout and datasets → fine-tune → evaluate →
register/promote.

The three models are one model set with one version number (:mod:`labelloop.model_set`). A crash
anywhere before :func:`~labelloop_trainer.promotion.promote` leaves the serving set untouched; the
registry keeps every candidate with its metrics, promoted or not.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labelloop import get_logger
from labelloop.dataset import write_snapshot
from labelloop.model_set import MODEL_SET, ModelName, ModelSet
from labelloop.rig import Rig

from labelloop_trainer.collect import CollectedLabels, collect_labels
from labelloop_trainer.dataset import (
    Holdout,
    HoldoutError,
    HoldoutSource,
    holdout_source,
    people_holdout,
    synthetic_holdout,
    write_training_sets,
)
from labelloop_trainer.evaluation import judge
from labelloop_trainer.finetune import fine_tune
from labelloop_trainer.model_files import download_set, measured_metrics, serving_set, trained_set
from labelloop_trainer.promotion import promote, register
from labelloop_trainer.yolo_data import LabeledFrame

if TYPE_CHECKING:
    from labelloop_trainer.deps import Deps
    from labelloop_trainer.settings import TrainerSettings

log = get_logger()


@dataclass(frozen=True)
class RoundResult:
    version: int
    promoted: bool
    metrics: dict[str, float]
    serving_metrics: dict[str, float]
    frames: dict[str, int]


def with_new_slots_due(
    frames: dict[ModelName, list[LabeledFrame]], parent_set: ModelSet, head_min_labels: int
) -> dict[ModelName, list[LabeledFrame]]:
    """The frames each slot trains on this round: a head detector new to the set waits until
    people have corrected ``head_min_labels`` frames' head boxes (before that, the face-point
    rule serves)."""
    if "head" not in parent_set.models and sum(frame.human for frame in frames["head"]) < head_min_labels:
        return frames | {"head": []}
    return frames


def round_holdout(settings: TrainerSettings, root: Path, source: HoldoutSource, rig: Rig,
                  collected: CollectedLabels) -> Holdout:  # fmt: skip
    """This round's holdout; HoldoutError when there is none yet."""
    if source == "synthetic":
        return synthetic_holdout(root, first_seed=settings.holdout_seed, size=settings.holdout_size,
                                 camera=settings.holdout_camera, rig=rig)  # fmt: skip
    return people_holdout(root, collected.reserved, rig=rig, minimum=settings.min_holdout_frames)


def run_round(deps: Deps, labels: int) -> RoundResult | None:
    """Train, measure and maybe promote the next model set on every label in ``dataset/``; None
    when there is no holdout to measure it on yet (logged with the reason, labels kept counted)."""
    settings = deps.settings
    parent, parent_set = serving_set(deps)
    imgsz = settings.imgsz or parent_set.imgsz
    root = Path(tempfile.mkdtemp(prefix="labelloop-train-", dir=settings.work_dir))
    try:
        try:
            source = holdout_source(settings.holdout, parent_set.rig)
            share = settings.holdout_share if source == "people" else 0.0
            collected = collect_labels(deps.clients.s3, deps.data_bucket, rig=parent_set.rig,
                                       include_auto=settings.include_auto,
                                       auto_min_confidence=settings.auto_min_confidence,
                                       holdout_share=share)  # fmt: skip
            holdout = round_holdout(settings, root, source, parent_set.rig, collected)
        except HoldoutError as reason:
            log.warning("trainer.round_skipped", reason=str(reason), serving=parent, labels=labels)
            return None
        # One download serves both: measuring the parent (once, if it never was) and fine-tuning from it.
        parent_files = download_set(deps, parent_set, root / "parent")
        serving_metrics = measured_metrics(deps, parent, parent_set, parent_files, holdout=holdout, work=root,
                                           imgsz=imgsz)  # fmt: skip
        version = deps.registry.next_version()
        # The set this version trains on, kept under the hash the registry records (labelloop export --version).
        write_snapshot(deps.clients.s3, deps.data_bucket, collected.data_hash, collected.training_lines())
        frames = with_new_slots_due(collected.frames, parent_set, settings.head_min_labels)
        trained = fine_tune(write_training_sets(frames, holdout, root), parent_files, root, epochs=settings.epochs,
                            imgsz=imgsz, new_model_epochs=settings.new_model_epochs)  # fmt: skip
        judged = judge(trained, holdout, incumbent=tuple(parent_set.models), workdir=root, imgsz=imgsz)
        candidate_set = trained_set(parent_set, version, judged.candidate, parent_version=parent)
        promoted = register(deps, version, parent, judged.candidate, candidate_set, judged.metrics, serving_metrics,
                            data_hash=collected.data_hash, labels=labels)  # fmt: skip
        if promoted:
            promote(deps, version, parent, judged.candidate, judged.metrics)
        counts: dict[str, int] = {model: len(frames[model]) for model in MODEL_SET}
        log.info("trainer.round", version=version, promoted=promoted, metrics=judged.metrics, serving=serving_metrics,
                 frames=counts, holdout=holdout.source, visibility_rule=judged.visibility_rule,
                 head_rule=judged.head_rule)  # fmt: skip
        return RoundResult(version, promoted, judged.metrics, serving_metrics, counts)
    finally:
        shutil.rmtree(root, ignore_errors=True)
