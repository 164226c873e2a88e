"""Step 4 of a round, evaluation on the holdout: Ultralytics' mAPs of ``pose_main``, and the
metrics of what inference serves under each rule (:mod:`labelloop_trainer.served`); which rules a
candidate takes; the promotion guard."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from labelloop.model_registry import METRICS
from labelloop.model_set import HeadRule, ModelName, VisibilityRule

from labelloop_trainer.dataset import Holdout
from labelloop_trainer.finetune import ModelFiles
from labelloop_trainer.served import metric_name, served_metrics
from labelloop_trainer.training import validate


def evaluate(files: ModelFiles, holdout: Holdout, *, workdir: Path, imgsz: int) -> dict[str, float]:
    """The holdout metrics of a set's ``files``, under every rule its models allow (see :func:`under_rules`)."""
    pose = validate(files.weights["pose_main"], holdout.pose_data, workdir, imgsz=imgsz)
    return {
        "person_map50": pose.get("box_map50", 0.0),
        "pose_map50": pose.get("pose_map50", 0.0),
        **served_metrics(files.onnx, holdout, imgsz=imgsz),
    }


@dataclass(frozen=True)
class Judged:
    """A round's trained models as they would serve: the slots that beat their rules, and the metrics."""

    candidate: ModelFiles
    metrics: dict[str, float]
    visibility_rule: VisibilityRule
    head_rule: HeadRule


def judge(
    trained: ModelFiles, holdout: Holdout, *, incumbent: Collection[ModelName], workdir: Path, imgsz: int
) -> Judged:
    """Measure ``trained`` on the holdout; a model new to the set (not in ``incumbent``, the
    parent's slots) is kept only where it beats its rule."""
    measured = evaluate(trained, holdout, workdir=workdir, imgsz=imgsz)
    visibility, head = takeover_rules(measured, incumbent=incumbent)
    candidate = trained.only(serving_slots(visibility, head, available=tuple(trained.onnx)))
    return Judged(candidate, under_rules(measured, visibility, head), visibility, head)


def takeover_rules(
    metrics: dict[str, float], *, incumbent: Collection[ModelName] = ()
) -> tuple[VisibilityRule, HeadRule]:
    """The rules a candidate serves under. A ``pose_visible`` or head detector new to the set takes
    over from its rule (main-confidence, face points) only where it beats the rule on the holdout;
    one the set already serves stays (the promotion guard judges the set as a whole), so a slot
    does not come and go with the holdout's noise."""
    two_model = metrics.get(metric_name("visibility_accuracy", "two-model"))
    detector = metrics.get(metric_name("head_map50", "detector"))
    visibility: VisibilityRule = "main-confidence"
    if two_model is not None and (
        "pose_visible" in incumbent or two_model > metrics[metric_name("visibility_accuracy", "main-confidence")]
    ):
        visibility = "two-model"
    head: HeadRule = "face-keypoints"
    if detector is not None and (
        "head" in incumbent or detector > metrics[metric_name("head_map50", "face-keypoints")]
    ):
        head = "detector"
    return visibility, head


def serving_slots(
    visibility: VisibilityRule, head: HeadRule, *, available: tuple[ModelName, ...]
) -> tuple[ModelName, ...]:
    """The slots of ``available`` that serve under the rules (an empty slot stands for its rule)."""
    wanted = {"pose_main": True, "pose_visible": visibility == "two-model", "head": head == "detector"}
    return tuple(model for model in available if wanted[model])


def under_rules(metrics: dict[str, float], visibility: VisibilityRule, head: HeadRule) -> dict[str, float]:
    """``metrics`` with ``visibility_accuracy`` and ``head_map50`` those of the rules in force."""
    return metrics | {
        "visibility_accuracy": metrics[metric_name("visibility_accuracy", visibility)],
        "head_map50": metrics[metric_name("head_map50", head)],
    }


def not_worse(candidate: dict[str, float], serving: dict[str, float], tolerance: float) -> bool:
    """The promotion guard: no metric trails the serving set's by more than ``tolerance``."""
    return all(candidate.get(m, 0.0) + tolerance >= serving.get(m, 0.0) for m in METRICS)
