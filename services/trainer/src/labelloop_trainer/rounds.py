"""One training round, top-down: collect labels → datasets → fine-tune → evaluate → register/promote.

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
from labelloop.model_set import MODEL_SET, ModelSet
from labelloop.rig import IN_CABIN_17

from labelloop_trainer.collect import collect_labels
from labelloop_trainer.dataset import write_holdout, write_training_sets
from labelloop_trainer.evaluation import evaluate
from labelloop_trainer.finetune import fine_tune
from labelloop_trainer.model_files import download_set, measured_metrics, serving_set, trained_set
from labelloop_trainer.promotion import promote, register

if TYPE_CHECKING:
    from labelloop_trainer.deps import Deps

log = get_logger()


@dataclass(frozen=True)
class RoundResult:
    version: int
    promoted: bool
    metrics: dict[str, float]
    serving_metrics: dict[str, float]
    frames: dict[str, int]


def untrainable(model_set: ModelSet) -> str | None:
    """Why rounds cannot train ``model_set`` yet, or None.

    The fixed holdout is rendered by the synthetic generator, which knows the in-cabin rig's points
    only; a set on another rig (the real COCO-17 set) needs a holdout of people's labels, and
    rounds on one set all three models fine-tuned from weights.
    """
    if model_set.rig != IN_CABIN_17:
        return f"no holdout for rig {model_set.rig.name!r} yet (the synthetic holdout has the in-cabin rig only)"
    if set(model_set.models) != set(MODEL_SET):
        return f"set {model_set.name!r} lacks {sorted(set(MODEL_SET) - set(model_set.models))}"
    return None


def run_round(deps: Deps, labels: int) -> RoundResult | None:
    """Train, measure and maybe promote the next model set on every label in ``dataset/``; None
    when the serving set cannot be trained (logged with the reason, labels kept counted)."""
    settings = deps.settings
    parent, parent_set = serving_set(deps)
    if (reason := untrainable(parent_set)) is not None:
        log.warning("trainer.round_skipped", reason=reason, serving=parent, labels=labels)
        return None
    imgsz = settings.imgsz or parent_set.imgsz
    root = Path(tempfile.mkdtemp(prefix="labelloop-train-", dir=settings.work_dir))
    try:
        collected = collect_labels(deps.clients.s3, deps.data_bucket, rig=parent_set.rig,
                                   include_auto=settings.include_auto,
                                   auto_min_confidence=settings.auto_min_confidence)  # fmt: skip
        holdout = write_holdout(root, first_seed=settings.holdout_seed, size=settings.holdout_size,
                                camera=settings.holdout_camera, rig=parent_set.rig)  # fmt: skip
        # One download serves both: measuring the parent (once, if it never was) and fine-tuning from it.
        parent_files = download_set(deps, parent_set, root / "parent")
        serving_metrics = measured_metrics(deps, parent, parent_set, parent_files, holdout=holdout, work=root,
                                           imgsz=imgsz)  # fmt: skip
        version = deps.registry.next_version()
        candidate = fine_tune(write_training_sets(collected.frames, holdout, root), parent_files.weights, root,
                              epochs=settings.epochs, imgsz=imgsz)  # fmt: skip
        metrics = evaluate(candidate, holdout, rig=parent_set.rig, workdir=root, imgsz=imgsz)
        candidate_set = trained_set(parent_set, version, candidate, parent_version=parent)
        promoted = register(deps, version, parent, candidate, candidate_set, metrics, serving_metrics,
                            data_hash=collected.data_hash, labels=labels)  # fmt: skip
        if promoted:
            promote(deps, version, parent, candidate, metrics)
        counts: dict[str, int] = {model: len(collected.frames[model]) for model in MODEL_SET}
        log.info(
            "trainer.round", version=version, promoted=promoted, metrics=metrics, serving=serving_metrics, frames=counts
        )
        return RoundResult(version, promoted, metrics, serving_metrics, counts)
    finally:
        shutil.rmtree(root, ignore_errors=True)
