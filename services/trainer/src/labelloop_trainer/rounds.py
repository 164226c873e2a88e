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
from labelloop.model_set import MODEL_SET
from labelloop.rig import IN_CABIN_17

from labelloop_trainer.collect import collect_labels
from labelloop_trainer.dataset import write_holdout, write_training_sets
from labelloop_trainer.evaluation import evaluate
from labelloop_trainer.finetune import fine_tune
from labelloop_trainer.model_files import INITIAL_VERSION, download_weights, ensure_initial_version
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


def run_round(deps: Deps, labels: int) -> RoundResult:
    """Train, measure and maybe promote the next model set on every label in ``dataset/``."""
    settings = deps.settings
    root = Path(tempfile.mkdtemp(prefix="labelloop-train-", dir=settings.work_dir))
    try:
        collected = collect_labels(deps.clients.s3, deps.data_bucket, include_auto=settings.include_auto,
                                   auto_min_confidence=settings.auto_min_confidence)  # fmt: skip
        holdout = write_holdout(root, first_seed=settings.holdout_seed, size=settings.holdout_size,
                                camera=settings.holdout_camera)  # fmt: skip
        ensure_initial_version(deps, holdout, root)
        parent = deps.registry.serving() or INITIAL_VERSION
        version = max(r.version for r in deps.registry.versions()) + 1
        candidate = fine_tune(write_training_sets(collected.frames, holdout, root),
                              download_weights(deps, parent, root / "parent"), root, epochs=settings.epochs,
                              imgsz=settings.imgsz)  # fmt: skip
        metrics = evaluate(candidate, holdout, rig=IN_CABIN_17, workdir=root, imgsz=settings.imgsz)
        serving_metrics = deps.registry.metrics_of(parent) or {}
        promoted = register(deps, version, parent, candidate, metrics, serving_metrics,
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
