"""Step 3 of a round: fine-tune each model that has new labels from its parent; export ONNX."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from labelloop.model_set import MODEL_SET, ModelName

from labelloop_trainer.training import export_onnx, train


@dataclass(frozen=True)
class ModelFiles:
    """One model set on disk: PyTorch weights (to train from) and ONNX (to serve and evaluate)."""

    weights: dict[ModelName, Path]
    onnx: dict[ModelName, Path]


def fine_tune(
    training_sets: dict[ModelName, Path | None],
    parent_weights: dict[ModelName, Path],
    root: Path,
    *,
    epochs: int,
    imgsz: int,
) -> ModelFiles:
    """The candidate set under ``root/candidate``: a model without a training set carries its parent over."""
    weights: dict[ModelName, Path] = {}
    onnx: dict[ModelName, Path] = {}
    for model in MODEL_SET:
        data_yaml = training_sets[model]
        if data_yaml is None:
            weights[model] = parent_weights[model]
        else:
            result = train(model, data_yaml, root / "runs", parent=parent_weights[model], epochs=epochs, imgsz=imgsz)
            weights[model] = root / "candidate" / f"{model}.pt"
            weights[model].parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(result.weights, weights[model])
        onnx[model] = export_onnx(weights[model], root / "candidate" / f"{model}.onnx", imgsz=imgsz, workdir=root)
    return ModelFiles(weights, onnx)
