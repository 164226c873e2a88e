"""A model set's files in the registry bucket (``registry/<version>/<model>.pt|.onnx``), and version 1.

Version 1 is the shipped set: uploaded and evaluated on the holdout the first time a round needs it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from labelloop.model_registry import VersionRecord
from labelloop.model_set import MODEL_SET, ModelName
from labelloop.rig import IN_CABIN_17
from labelloop.s3_uri import s3_uri

from labelloop_trainer.evaluation import evaluate
from labelloop_trainer.finetune import ModelFiles

if TYPE_CHECKING:
    from labelloop_trainer.dataset import Holdout
    from labelloop_trainer.deps import Deps

INITIAL_VERSION = 1


def registry_key(version: int, file_name: str) -> str:
    return f"registry/{version}/{file_name}"


def registry_uri(deps: Deps, version: int, model: ModelName) -> str:
    return s3_uri(deps.models_bucket, registry_key(version, f"{model}.onnx"))


def download_weights(deps: Deps, version: int, target: Path) -> dict[ModelName, Path]:
    """The set's ``.pt`` files, to fine-tune from."""
    target.mkdir(parents=True, exist_ok=True)
    files: dict[ModelName, Path] = {}
    for model in MODEL_SET:
        path = target / f"{model}.pt"
        deps.clients.s3.download_file(deps.models_bucket, registry_key(version, path.name), str(path))
        files[model] = path
    return files


def upload_set(deps: Deps, version: int, files: ModelFiles) -> None:
    for path in [*files.weights.values(), *files.onnx.values()]:
        deps.clients.s3.upload_file(str(path), deps.models_bucket, registry_key(version, path.name))


def shipped_set(source: Path) -> ModelFiles:
    return ModelFiles(
        weights={model: source / f"{model}.pt" for model in MODEL_SET},
        onnx={model: source / f"{model}.onnx" for model in MODEL_SET},
    )


def ensure_initial_version(deps: Deps, holdout: Holdout, work: Path) -> None:
    """Register the shipped set as version 1, serving, with its holdout metrics, unless a set serves already."""
    if deps.registry.serving() is not None:
        return
    shipped = shipped_set(deps.settings.initial_models)
    upload_set(deps, INITIAL_VERSION, shipped)
    metrics = evaluate(shipped, holdout, rig=IN_CABIN_17, workdir=work, imgsz=deps.settings.imgsz)
    deps.registry.record(VersionRecord(INITIAL_VERSION, "promoted", metrics, "initial", None, time.time(), 0))
    deps.registry.set_serving(INITIAL_VERSION)
