"""Installing a prepared model set into a stack: Triton's repository, the registry bucket and table.

The local launcher installs the set it serves this way before Triton starts; docker compose's
one-off ``models-init`` step runs ``python -m labelloop.model_install`` (settings prefixed
``LABELLOOP_MODEL_INSTALL_``); the trainer does the same when it finds a registry with no set (a
fresh production stack). A stack that serves a set already is left alone, so a restart never
undoes a promotion.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from labelloop.aws import AwsClients
from labelloop.events import ModelPromoted
from labelloop.logs import get_logger
from labelloop.model_registry import Registry, VersionRecord
from labelloop.model_set import SET_FILE, ModelName, ModelSet, read_set_folder
from labelloop.one_off import OneOffConfigError, run_one_off
from labelloop.publisher import EventPublisher
from labelloop.s3_uri import s3_uri
from labelloop.settings import ServiceSettings
from labelloop.topology import StackNames
from labelloop.triton_repository import write_model_set

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = get_logger()
FIRST_VERSION = 1


def registry_key(version: int, file_name: str) -> str:
    """Where a set version's files live in the models bucket."""
    return f"registry/{version}/{file_name}"


def announce(
    publisher: EventPublisher, models_bucket: str, *, version: int, previous: int, models: Iterable[ModelName],
    metrics: dict[str, float],
) -> None:  # fmt: skip
    """A ModelPromoted per model that ``version`` brought (a training: all; an import: one), so every
    inference task switches at once instead of at its next refresh."""
    for model in models:
        publisher.publish(
            ModelPromoted(
                event_id=f"promoted-{model}-{version}",
                correlation_id=f"model-set-{version}",
                model_name=model,
                model_version=version,
                previous_version=previous,
                metrics=metrics,
                registry_uri=s3_uri(models_bucket, registry_key(version, f"{model}.onnx")),
            )
        )


def upload_set_files(s3: S3Client, bucket: str, version: int, files: Iterable[Path], model_set: ModelSet) -> None:
    """The set's model files (``<slot>.onnx``, ``<slot>.pt``) and its JSON, under ``registry/<version>/``."""
    for path in files:
        s3.upload_file(str(path), bucket, registry_key(version, path.name))
    s3.put_object(Bucket=bucket, Key=registry_key(version, SET_FILE), Body=model_set.to_json().encode())


def files_in_folder(folder: Path, model_set: ModelSet) -> list[Path]:
    """The set's ``<slot>.onnx`` and ``<slot>.pt`` files that ``folder`` holds."""
    candidates = (folder / f"{name}{suffix}" for name in model_set.models for suffix in (".onnx", ".pt"))
    return [path for path in candidates if path.is_file()]


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
    upload_set_files(s3, models_bucket, FIRST_VERSION, files_in_folder(folder, model_set), model_set)
    registry.record(
        VersionRecord(
            FIRST_VERSION, "promoted", {}, "initial", None, time.time(), 0, model_set=model_set.model_dump(mode="json")
        )
    )
    registry.set_serving(FIRST_VERSION)
    return model_set


class ModelInstallSettings(ServiceSettings):
    """``python -m labelloop.model_install``: which set folder goes into which stack and repository."""

    model_config = SettingsConfigDict(env_prefix="LABELLOOP_MODEL_INSTALL_", extra="ignore", frozen=True)

    folder: Path = Field(description="The model set folder (model-set.json + <slot>.onnx).")
    repository: Path = Field(description="Triton's model repository to write the set's models into.")
    backend: str = Field(default="onnxruntime", description="python (the local stack) or onnxruntime (a full Triton).")


def main() -> int:
    """Install a set from any service image (compose's ``models-init``). Exit codes as the CLI's."""
    return run_one_off("model-install", ModelInstallSettings, _install)


def _install(settings: ModelInstallSettings, clients: AwsClients) -> None:
    names = StackNames(settings.stack)
    try:
        installed = install_first_set(settings.folder, registry=Registry(clients.dynamodb, names.physical("models")),
                                      s3=clients.s3, models_bucket=names.physical("models"),
                                      repository=settings.repository, backend=settings.backend)  # fmt: skip
    except (FileNotFoundError, ValueError) as error:
        raise OneOffConfigError(str(error)) from error
    log.info("model_install.done", installed=installed.name if installed else None)


if __name__ == "__main__":
    raise SystemExit(main())
