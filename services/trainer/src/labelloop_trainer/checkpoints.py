"""Bringing a team's checkpoint into a slot: check it fits, export it, say what it is.

A ``.pt`` (Ultralytics) is loaded offline and exported like our own models (ONNX, dynamic batch
and size, uint8 input, the top 300 candidates out); a ``.onnx`` is taken as it is, with the same
two graph edits. Either way the
exported file is run once on a blank image, so a model whose output does not have the rig's
``4 + 1 + 3K`` rows is refused before anything is registered, whatever its metadata claims.
"""

from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from labelloop.model_set import CheckpointError, ModelName
from labelloop.rig import Rig

from labelloop_trainer.training import export_onnx, offline_ultralytics, with_top_candidates, with_uint8_input

SLOT_TASK: dict[ModelName, str] = {"pose_main": "pose", "pose_visible": "pose", "head": "detect"}
DEFAULT_IMGSZ = 640  # Ultralytics' own default, for an ONNX file that does not say


@dataclass(frozen=True)
class CheckpointFacts:
    task: str
    keypoints: int
    classes: int
    imgsz: int


@dataclass(frozen=True)
class PreparedCheckpoint:
    onnx: Path
    weights: Path | None
    """The ``.pt`` (to fine-tune from), when the checkpoint was one."""
    facts: CheckpointFacts


def prepare_checkpoint(
    source: Path, *, slot: ModelName, rig: Rig, out: Path, workdir: Path, imgsz: int | None = None
) -> PreparedCheckpoint:
    """Check ``source`` fits ``slot`` and ``rig``; write ``out/<slot>.onnx`` (and ``.pt``).

    CheckpointError naming the mismatch (wrong task, keypoint count, class count, unreadable
    file); nothing is written to ``out`` then.
    """
    if not source.is_file():
        raise CheckpointError(f"{source}: no such file")
    suffix = source.suffix.lower()
    if suffix == ".pt":
        facts = _pt_facts(source, workdir)
    elif suffix == ".onnx":
        facts = _onnx_facts(source.read_bytes())
    else:
        raise CheckpointError(f"{source}: a checkpoint is an Ultralytics .pt or an .onnx file, not {suffix or 'that'}")
    _check_fits(facts, slot, rig, source)
    size = imgsz or facts.imgsz
    staging = workdir / "prepared"
    staging.mkdir(parents=True, exist_ok=True)
    onnx_path, weights = staging / f"{slot}.onnx", None
    if suffix == ".pt":
        weights = staging / f"{slot}.pt"
        shutil.copyfile(source, weights)
        export_onnx(weights, onnx_path, imgsz=size, workdir=workdir)
    else:
        onnx_path.write_bytes(with_top_candidates(with_uint8_input(source.read_bytes())))
    _check_output(onnx_path, facts, size, source)
    out.mkdir(parents=True, exist_ok=True)
    final_onnx = Path(shutil.copyfile(onnx_path, out / onnx_path.name))
    final_weights = Path(shutil.copyfile(weights, out / weights.name)) if weights else None
    return PreparedCheckpoint(final_onnx, final_weights, CheckpointFacts(facts.task, facts.keypoints,
                                                                         facts.classes, size))  # fmt: skip


def _pt_facts(source: Path, workdir: Path) -> CheckpointFacts:
    yolo_class = offline_ultralytics(workdir / "ultralytics-config")
    try:
        network = yolo_class(str(source))
    except Exception as error:  # torch.load and Ultralytics raise anything on a bad file
        raise CheckpointError(
            f"{source}: not a readable Ultralytics checkpoint ({type(error).__name__}: {error})"
        ) from error
    inner: Any = network.model
    kpt_shape = (getattr(inner, "yaml", None) or {}).get("kpt_shape") or getattr(inner, "kpt_shape", None)
    args = getattr(inner, "args", None) or {}
    return CheckpointFacts(
        task=str(network.task),
        keypoints=int(kpt_shape[0]) if kpt_shape else 0,
        classes=len(network.names),
        imgsz=_square(args.get("imgsz", DEFAULT_IMGSZ) if isinstance(args, dict) else DEFAULT_IMGSZ),
    )


def _onnx_facts(model_bytes: bytes) -> CheckpointFacts:
    import onnx  # noqa: PLC0415 - only imports need it

    try:
        model = onnx.load_from_string(model_bytes)
    except Exception as error:  # protobuf's decode errors have no common base
        raise CheckpointError(f"not a readable ONNX model ({type(error).__name__})") from error
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    kpt_shape = _literal(metadata.get("kpt_shape"))
    names = _literal(metadata.get("names"))
    return CheckpointFacts(
        task=metadata.get("task", "pose" if kpt_shape else "detect"),
        keypoints=int(kpt_shape[0]) if kpt_shape else 0,
        classes=len(names) if isinstance(names, dict) else 1,
        imgsz=_square(_literal(metadata.get("imgsz")) or DEFAULT_IMGSZ),
    )


def _literal(text: str | None) -> Any:
    """Ultralytics writes ONNX metadata as Python literals (``[17, 3]``, ``{0: 'person'}``)."""
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


def _square(imgsz: Any) -> int:
    return int(max(imgsz) if isinstance(imgsz, list | tuple) else imgsz)


def _check_fits(facts: CheckpointFacts, slot: ModelName, rig: Rig, source: Path) -> None:
    wanted = SLOT_TASK[slot]
    if facts.task != wanted:
        raise CheckpointError(f"{source}: a {facts.task} model cannot serve in {slot}, which needs a {wanted} model")
    if wanted == "pose" and facts.keypoints != len(rig):
        raise CheckpointError(
            f"{source}: predicts {facts.keypoints} keypoints; rig {rig.name!r} has {len(rig)} "
            "(pass --rig with the rig it was trained on)"
        )
    if facts.classes != 1:
        raise CheckpointError(f"{source}: has {facts.classes} classes; {slot} takes a one-class model")


def _check_output(onnx_path: Path, facts: CheckpointFacts, imgsz: int, source: Path) -> None:
    import onnxruntime  # noqa: PLC0415 - only imports need it

    try:
        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        [output] = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, imgsz, imgsz), np.uint8)})[:1]
    except Exception as error:  # onnxruntime's errors have no common base
        raise CheckpointError(f"{source}: the exported model does not run ({type(error).__name__}: {error})") from error
    expected = 5 + 3 * facts.keypoints
    if output.ndim != 3 or output.shape[1] != expected:
        raise CheckpointError(
            f"{source}: output has shape {tuple(output.shape)}; expected (batch, {expected}, anchors) "
            f"for one class and {facts.keypoints} keypoints"
        )
