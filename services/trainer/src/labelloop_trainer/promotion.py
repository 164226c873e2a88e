"""Step 5 of a round: register the candidate, and promote it if it is not worse than what serves.

Promotion writes the set into Triton's repository as a new version of each model, has Triton
load it, marks it serving in the registry and announces it (ModelPromoted), in that order: a
crash before the registry write leaves the old set serving (Triton serves every version; inference
asks for the one the registry names).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import tritonclient.http as triton_http
from labelloop.model_install import announce, registry_key
from labelloop.model_registry import VersionRecord
from labelloop.model_set import ModelSet
from labelloop.triton_repository import YOLO_INPUTS, YOLO_OUTPUTS, write_onnx_model

from labelloop_trainer.evaluation import not_worse
from labelloop_trainer.model_files import upload_set

if TYPE_CHECKING:
    from labelloop_trainer.deps import Deps
    from labelloop_trainer.finetune import ModelFiles


def register(  # noqa: PLR0917 - one call per round, every value named at the call site
    deps: Deps,
    version: int,
    parent: int,
    candidate: ModelFiles,
    candidate_set: ModelSet,
    metrics: dict[str, float],
    serving_metrics: dict[str, float],
    *,
    data_hash: str,
    labels: int,
) -> bool:
    """Upload and record the candidate, promoted or rejected by the guard; True if promoted."""
    promoted = not_worse(metrics, serving_metrics, deps.settings.promote_tolerance)
    upload_set(deps, version, candidate, candidate_set)
    summary = json.dumps({"metrics": metrics, "serving": serving_metrics, "parent": parent}).encode()
    deps.clients.s3.put_object(Bucket=deps.models_bucket, Key=registry_key(version, "metrics.json"), Body=summary)
    status = "promoted" if promoted else "rejected"
    deps.registry.record(VersionRecord(version, status, metrics, data_hash, parent, time.time(), labels,
                                       model_set=candidate_set.model_dump(mode="json")))  # fmt: skip
    return promoted


def promote(deps: Deps, version: int, previous: int, candidate: ModelFiles, metrics: dict[str, float]) -> None:
    """Write the set's models into Triton's repository as ``version``, have Triton load them,
    announce them. A slot the set left to its rule keeps its older versions in Triton, unused."""
    client = triton_http.InferenceServerClient(deps.settings.triton_url)
    for model in candidate.onnx:
        write_onnx_model(deps.settings.model_repository, model, candidate.onnx[model].read_bytes(), version=version,
                         inputs=YOLO_INPUTS, outputs=YOLO_OUTPUTS, backend=deps.settings.triton_backend)  # fmt: skip
        client.load_model(model)
    deps.registry.set_serving(version)
    announce(deps.publisher, deps.models_bucket, version=version, previous=previous, models=tuple(candidate.onnx),
             metrics=metrics)  # fmt: skip
