"""A model set's files in the registry bucket (``registry/<version>/<model>.pt|.onnx``), and the
serving set the trainer starts from.

The first set is installed by whoever starts the stack (``labelloop up``), or here when a fresh
stack has none; either way it is recorded unmeasured, and measured on the holdout the first time
a round needs its metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from labelloop.model_install import install_first_set, registry_key, upload_set_files
from labelloop.model_set import ModelName, ModelSet, SlotModel, file_sha256, read_set_folder

from labelloop_trainer.evaluation import evaluate, under_rules
from labelloop_trainer.finetune import ModelFiles

if TYPE_CHECKING:
    from labelloop_trainer.dataset import Holdout
    from labelloop_trainer.deps import Deps


def download_set(deps: Deps, model_set: ModelSet, target: Path) -> ModelFiles:
    """The set's ``.pt`` and ``.onnx`` files (each where its slot's version put it), to fine-tune
    from and to measure."""
    target.mkdir(parents=True, exist_ok=True)
    weights: dict[ModelName, Path] = {}
    onnx: dict[ModelName, Path] = {}
    for model, slot in model_set.models.items():
        weights[model], onnx[model] = target / f"{model}.pt", target / f"{model}.onnx"
        for path in (weights[model], onnx[model]):
            deps.clients.s3.download_file(deps.models_bucket, registry_key(slot.version, path.name), str(path))
    return ModelFiles(weights, onnx)


def trained_set(parent: ModelSet, version: int, files: ModelFiles, *, parent_version: int) -> ModelSet:
    """The declaration of a round's candidate: the parent's rig and input size, a new model in each
    slot ``files`` has (the others are left to their rules)."""
    return parent.model_copy(
        update={
            "models": {
                model: SlotModel(
                    version=version,
                    source="trained",
                    sha256=file_sha256(path),
                    origin=f"fine-tuned from set {parent_version}"
                    + ("" if model in parent.models else " (pose_main's weights; new to the set)"),
                )
                for model, path in files.onnx.items()
            }
        }
    )


def upload_set(deps: Deps, version: int, files: ModelFiles, model_set: ModelSet) -> None:
    # The weights of a model carried over from the parent live in another folder than the candidate's.
    upload_set_files(deps.clients.s3, deps.models_bucket, version, [*files.weights.values(), *files.onnx.values()],
                     model_set)  # fmt: skip


def shipped_set(source: Path) -> ModelFiles:
    """The files of the set a folder holds (a shipped or prepared one)."""
    models = read_set_folder(source).models
    return ModelFiles(
        weights={model: source / f"{model}.pt" for model in models},
        onnx={model: source / f"{model}.onnx" for model in models},
    )


def serving_set(deps: Deps) -> tuple[int, ModelSet]:
    """The version and declaration of the set that serves, installing the shipped one on a fresh stack."""
    install_first_set(deps.settings.initial_models, registry=deps.registry, s3=deps.clients.s3,
                      models_bucket=deps.models_bucket, repository=deps.settings.model_repository,
                      backend=deps.settings.triton_backend)  # fmt: skip
    serving = deps.registry.serving_set()
    if serving is None:
        raise LookupError("the registry names a serving version without a model set declaration")
    return serving


def measured_metrics(
    deps: Deps, version: int, model_set: ModelSet, files: ModelFiles, *, holdout: Holdout, work: Path, imgsz: int
) -> dict[str, float]:
    """The holdout metrics of ``version`` under its own rules, recorded with it. The synthetic
    holdout is fixed, so a version measured once on it is not measured again; people's holdout
    grows with their labels, so a version is measured on each round's."""
    if holdout.source == "synthetic" and (metrics := deps.registry.metrics_of(version)):
        return metrics
    metrics = under_rules(evaluate(files, holdout, workdir=work, imgsz=imgsz), model_set.visibility_rule,
                          model_set.head_rule)  # fmt: skip
    deps.registry.set_metrics(version, metrics)
    return metrics
