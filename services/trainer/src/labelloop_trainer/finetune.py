"""Step 3 of a round: fine-tune each model that has new labels from its parent; export ONNX.

A slot the parent set lacks starts from ``pose_main``'s weights: ``pose_visible`` as a copy of it
(then taught visible points only), ``head`` as a detector with its backbone. Whether such a
model then serves is the evaluation's call (:func:`labelloop_trainer.evaluation.takeover_rules`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from labelloop.model_set import MODEL_SET, ModelName

from labelloop_trainer.training import export_onnx, train


@dataclass(frozen=True)
class ModelFiles:
    """One model set on disk: PyTorch weights (to train from) and ONNX (to serve and evaluate),
    for the slots the set has."""

    weights: dict[ModelName, Path]
    onnx: dict[ModelName, Path]

    def only(self, models: tuple[ModelName, ...] | list[ModelName]) -> ModelFiles:
        return ModelFiles({m: self.weights[m] for m in models}, {m: self.onnx[m] for m in models})


def fine_tune(
    training_sets: dict[ModelName, Path | None],
    parent: ModelFiles,
    root: Path,
    *,
    epochs: int,
    imgsz: int,
    new_model_epochs: int | None = None,
) -> ModelFiles:
    """The candidate set under ``root/candidate``: a slot with a training set is trained (from its
    parent model for ``epochs``, or from ``pose_main``'s for ``new_model_epochs`` if new to the
    set), one without carries its parent's model over, or stays empty."""
    weights: dict[ModelName, Path] = {}
    onnx: dict[ModelName, Path] = {}
    for model in MODEL_SET:
        data_yaml = training_sets[model]
        start = parent.weights.get(model, parent.weights["pose_main"])
        if data_yaml is not None:
            rounds = epochs if model in parent.weights else new_model_epochs or epochs
            result = train(model, data_yaml, root / "runs", parent=start, epochs=rounds, imgsz=imgsz)
            weights[model] = root / "candidate" / f"{model}.pt"
            weights[model].parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(result.weights, weights[model])
        elif model in parent.weights:
            weights[model] = parent.weights[model]
        else:
            continue
        onnx[model] = export_onnx(weights[model], root / "candidate" / f"{model}.onnx", imgsz=imgsz, workdir=root)
    return ModelFiles(weights, onnx)
