"""Installing a prepared model set into a stack: Triton's repository, the registry bucket and table.

The local launcher installs the set it serves this way before Triton starts; the trainer does the
same when it finds a registry with no set (a fresh production stack). A stack that serves a set
already is left alone, so restarting ``labelloop up`` never undoes a promotion.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from labelloop.model_registry import Registry, VersionRecord
from labelloop.model_set import SET_FILE, ModelSet, read_set_folder
from labelloop.triton_repository import write_model_set

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

FIRST_VERSION = 1


def registry_key(version: int, file_name: str) -> str:
    """Where a set version's files live in the models bucket."""
    return f"registry/{version}/{file_name}"


def upload_set_files(s3: S3Client, bucket: str, version: int, folder: Path, model_set: ModelSet) -> None:
    """``<slot>.onnx`` (and ``<slot>.pt`` where the folder has it) and the set's JSON, under ``registry/<version>/``."""
    for name in model_set.models:
        for suffix in (".onnx", ".pt"):
            path = folder / f"{name}{suffix}"
            if path.is_file():
                s3.upload_file(str(path), bucket, registry_key(version, path.name))
    s3.put_object(Bucket=bucket, Key=registry_key(version, SET_FILE), Body=model_set.to_json().encode())


def install_first_set(
    folder: Path, *, registry: Registry, s3: S3Client, models_bucket: str, repository: Path | None,
    backend: str = "python",
) -> ModelSet | None:  # fmt: skip
    """Install the set in ``folder`` as version 1, serving, unless the stack serves a set already.

    Writes its models into Triton's ``repository`` (when given; Triton must load them after),
    uploads its files to the registry bucket and records it with empty metrics (the trainer
    measures it on the holdout when it first needs to). Returns the set installed, or None.
    """
    if registry.serving() is not None:
        return None
    model_set = read_set_folder(folder)
    if any(slot.version != FIRST_VERSION for slot in model_set.models.values()):
        raise ValueError(f"the first set must have every model at version {FIRST_VERSION}: {folder}")
    if repository is not None:
        write_model_set(repository, folder, model_set, backend=backend)
    upload_set_files(s3, models_bucket, FIRST_VERSION, folder, model_set)
    registry.record(
        VersionRecord(
            FIRST_VERSION, "promoted", {}, "initial", None, time.time(), 0, model_set=model_set.model_dump(mode="json")
        )
    )
    registry.set_serving(FIRST_VERSION)
    return model_set
