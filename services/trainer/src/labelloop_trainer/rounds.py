"""One training round: dataset from the labels, fine-tune, evaluate, register, maybe promote.

The three models are one *model set* with one version number: they are trained, evaluated and
promoted together, so inference never pairs a pose_main with a pose_visible of another round.
A crash anywhere before :func:`promote` leaves the serving set untouched; the registry keeps
every candidate with its metrics, promoted or not.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import tritonclient.http as triton_http
from labelloop import ModelPromoted, get_logger
from labelloop.dataset import effective_lines
from labelloop.local.triton import SERVED_MODELS, YOLO_INPUTS, YOLO_OUTPUTS, write_onnx_model
from labelloop.model_registry import VersionRecord
from labelloop.rig import IN_CABIN_17, Rig

from labelloop_trainer.evaluation import evaluate, not_worse
from labelloop_trainer.initial_models import synthetic_frames
from labelloop_trainer.training import export_onnx, train
from labelloop_trainer.yolo_data import LabeledFrame, LabeledPerson, TrainedModel, write_dataset

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from labelloop_trainer.entrypoint import Deps
    from labelloop_trainer.settings import TrainerSettings

log = get_logger()
MODELS: tuple[TrainedModel, ...] = ("pose_main", "pose_visible", "head")


@dataclass(frozen=True)
class RoundResult:
    version: int
    promoted: bool
    metrics: dict[str, float]
    serving_metrics: dict[str, float]
    frames: dict[str, int]


def _human(line: dict[str, Any], modality: str) -> bool:
    return (line.get(f"{modality}-metadata") or {}).get("human-annotated") == "yes"


def _confident(line: dict[str, Any], modality: str, minimum: float) -> bool:
    metadata = line.get(f"{modality}-metadata") or {}
    if modality == "head":
        scores = [o.get("confidence", 0.0) for o in metadata.get("objects", [])]
    else:
        scores = [c["main"] for person in metadata.get("persons", []) for c in person.get("keypoint-confidences", [])]
    return bool(scores) and min(scores) >= minimum


def _persons(line: dict[str, Any], width: int, height: int) -> tuple[LabeledPerson, ...]:
    """Skeletons from crowdKeypoint points; a person's box spans its located points, padded 10%."""
    grouped: dict[int, dict[str, tuple[float, float, Any]]] = defaultdict(dict)
    for point in (line.get("keypoints") or {}).get("crowdKeypoint", {}).get("keypoints", []):
        grouped[int(point.get("person", 0))][point["label"]] = (
            float(point["x"]),
            float(point["y"]),
            point.get("visibility", "visible"),
        )
    persons = []
    for points in grouped.values():
        located = [(x, y) for x, y, v in points.values() if v != "outside"]
        if not located:
            continue
        xs, ys = [p[0] for p in located], [p[1] for p in located]
        pad_x, pad_y = 0.1 * (max(xs) - min(xs)) + 4, 0.1 * (max(ys) - min(ys)) + 4
        left, top = max(0.0, min(xs) - pad_x), max(0.0, min(ys) - pad_y)
        right, bottom = min(float(width), max(xs) + pad_x), min(float(height), max(ys) + pad_y)
        filled = {name: points.get(name, (0.0, 0.0, "outside")) for name in IN_CABIN_17.keypoints}
        persons.append(LabeledPerson(box=(left, top, right - left, bottom - top), keypoints=filled))
    return tuple(persons)


def labeled_frames(
    s3: S3Client, lines: Iterable[dict[str, Any]], *, include_auto: bool = False, auto_min_confidence: float = 1.0
) -> dict[TrainedModel, list[LabeledFrame]]:
    """The training frames per model: human labels, and confident auto-labels if ``include_auto``."""
    chosen: dict[TrainedModel, list[LabeledFrame]] = {model: [] for model in MODELS}
    for line in lines:
        use = {
            modality: _human(line, modality) or (include_auto and _confident(line, modality, auto_min_confidence))
            for modality in ("head", "keypoints")
        }
        if not any(use.values()):
            continue
        bucket, _, key = line["source-ref"].removeprefix("s3://").partition("/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        image: np.ndarray | None = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)  # type: ignore[type-arg]
        if image is None:
            log.warning("trainer.undecodable_frame", frame=line["source-ref"])
            continue
        height, width = image.shape[:2]
        heads = tuple(
            (float(a["left"]), float(a["top"]), float(a["width"]), float(a["height"]))
            for a in (line.get("head") or {}).get("annotations", [])
        )
        frame = LabeledFrame(name=hashlib.sha256(line["source-ref"].encode()).hexdigest()[:16], image=np.asarray(image),
                             persons=_persons(line, width, height), heads=heads)  # fmt: skip
        if use["head"]:
            chosen["head"].append(frame)
        if use["keypoints"]:
            chosen["pose_main"].append(frame)
            chosen["pose_visible"].append(frame)
    return chosen


def data_hash(lines: dict[str, dict[str, Any]]) -> str:
    """Identity of the labels a round trained on (order-independent)."""
    digest = hashlib.sha256()
    for source_ref in sorted(lines):
        digest.update(json.dumps(lines[source_ref], sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _download(deps: Deps, version: int, suffix: str, target: Path) -> dict[str, Path]:
    target.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for model in MODELS:
        path = target / f"{model}{suffix}"
        deps.clients.s3.download_file(deps.models_bucket, f"registry/{version}/{model}{suffix}", str(path))
        files[model] = path
    return files


def _upload(deps: Deps, version: int, files: dict[str, Path]) -> None:
    for path in files.values():
        deps.clients.s3.upload_file(str(path), deps.models_bucket, f"registry/{version}/{path.name}")


def ensure_initial_version(deps: Deps, holdout: dict[str, Path], seeds: range, rig: Rig, work: Path) -> None:
    """Version 1 is the shipped set: uploaded and evaluated on the holdout the first time it is needed."""
    if deps.registry.serving() is not None:
        return
    source = deps.settings.initial_models
    weights: dict[str, Path] = {model: source / f"{model}.pt" for model in MODELS}
    onnx: dict[str, Path] = {model: source / f"{model}.onnx" for model in MODELS}
    _upload(deps, 1, weights)
    _upload(deps, 1, onnx)
    metrics = evaluate(weights, onnx, data=holdout, seeds=seeds, rig=rig, workdir=work, imgsz=deps.settings.imgsz,
                       camera=deps.settings.holdout_camera)  # fmt: skip
    deps.registry.record(VersionRecord(1, "promoted", metrics, "initial", None, time.time(), 0))
    deps.registry.set_serving(1)


def holdout(settings: TrainerSettings, root: Path) -> tuple[range, dict[str, Path]]:
    """The fixed synthetic holdout: its seeds, and its dataset per model written under ``root``."""
    seeds = range(settings.holdout_seed, settings.holdout_seed + settings.holdout_size)
    data: dict[str, Path] = {
        model: write_dataset(
            root / "holdout" / model,
            {"val": synthetic_frames(seeds, width=320, height=240, camera=settings.holdout_camera)},
            model,
            IN_CABIN_17,
        )
        for model in MODELS
    }
    return seeds, data


def fit(
    settings: TrainerSettings,
    frames: dict[TrainedModel, list[LabeledFrame]],
    parent_weights: dict[str, Path],
    holdout_seeds: range,
    root: Path,
) -> tuple[dict[str, Path], dict[str, Path]]:
    """Fine-tune each model that has frames from its parent (the others carry over); (weights, ONNX) per model."""
    weights: dict[str, Path] = {}
    onnx: dict[str, Path] = {}
    for model in MODELS:
        if not frames[model]:
            weights[model] = parent_weights[model]
        else:
            val = synthetic_frames(holdout_seeds[:16], width=320, height=240, camera=settings.holdout_camera)
            data_yaml = write_dataset(root / "data" / model, {"train": frames[model], "val": val}, model, IN_CABIN_17)
            result = train(model, data_yaml, root / "runs", parent=parent_weights[model], epochs=settings.epochs,
                           imgsz=settings.imgsz)  # fmt: skip
            weights[model] = root / "candidate" / f"{model}.pt"
            weights[model].parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(result.weights, weights[model])
        onnx[model] = export_onnx(weights[model], root / "candidate" / f"{model}.onnx", imgsz=settings.imgsz,
                                  workdir=root)  # fmt: skip
    return weights, onnx


def run_round(deps: Deps, labels: int) -> RoundResult:
    settings = deps.settings
    root = Path(tempfile.mkdtemp(prefix="labelloop-train-", dir=settings.work_dir))
    try:
        lines = effective_lines(deps.clients.s3, deps.data_bucket)
        frames = labeled_frames(deps.clients.s3, lines.values(), include_auto=settings.include_auto,
                                auto_min_confidence=settings.auto_min_confidence)  # fmt: skip
        seeds, holdout_yaml = holdout(settings, root)
        ensure_initial_version(deps, holdout_yaml, seeds, IN_CABIN_17, root)
        parent = deps.registry.serving() or 1
        parent_weights = _download(deps, parent, ".pt", root / "parent")
        version = max(r.version for r in deps.registry.versions()) + 1
        weights, onnx = fit(settings, frames, parent_weights, seeds, root)
        metrics = evaluate(weights, onnx, data=holdout_yaml, seeds=seeds, rig=IN_CABIN_17, workdir=root,
                           imgsz=settings.imgsz, camera=settings.holdout_camera)  # fmt: skip
        serving_metrics = deps.registry.metrics_of(parent) or {}
        promoted = not_worse(metrics, serving_metrics, settings.promote_tolerance)
        _upload(deps, version, {m: weights[m] for m in MODELS})
        _upload(deps, version, onnx)
        summary = json.dumps({"metrics": metrics, "serving": serving_metrics, "parent": parent}).encode()
        deps.clients.s3.put_object(Bucket=deps.models_bucket, Key=f"registry/{version}/metrics.json", Body=summary)
        deps.registry.record(VersionRecord(version, "promoted" if promoted else "rejected", metrics, data_hash(lines),
                                           parent, time.time(), labels))  # fmt: skip
        if promoted:
            promote(deps, version, parent, onnx, metrics)
        counts: dict[str, int] = {model: len(frames[model]) for model in MODELS}
        log.info(
            "trainer.round", version=version, promoted=promoted, metrics=metrics, serving=serving_metrics, frames=counts
        )
        return RoundResult(version, promoted, metrics, serving_metrics, counts)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def promote(deps: Deps, version: int, previous: int, onnx: dict[str, Path], metrics: dict[str, float]) -> None:
    """Write the set into Triton's repository as ``version``, have Triton load it, announce it."""
    client = triton_http.InferenceServerClient(deps.settings.triton_url)
    for model in SERVED_MODELS:
        write_onnx_model(deps.settings.model_repository, model, onnx[model].read_bytes(), version=version,
                         inputs=YOLO_INPUTS, outputs=YOLO_OUTPUTS, backend=deps.settings.triton_backend)  # fmt: skip
        client.load_model(model)
    deps.registry.set_serving(version)
    for model in SERVED_MODELS:
        deps.publisher.publish(
            ModelPromoted(
                event_id=f"promoted-{model}-{version}",
                correlation_id=f"model-set-{version}",
                model_name=model,
                model_version=version,
                previous_version=previous,
                metrics=metrics,
                registry_uri=f"s3://{deps.models_bucket}/registry/{version}/{model}.onnx",
            )
        )


def train_comparison(
    settings: TrainerSettings,
    s3: S3Client,
    lines: Iterable[dict[str, Any]],
    parent_weights: dict[str, Path],
    root: Path,
) -> tuple[dict[str, Path], dict[str, float]]:
    """A round's training and holdout evaluation on ``lines``, without registering or serving the
    result: a comparison arm (the demo's random arm), trained and measured exactly like the loop's
    models. Weights stay under ``root``."""
    frames = labeled_frames(s3, lines)
    seeds, holdout_yaml = holdout(settings, root)
    weights, onnx = fit(settings, frames, parent_weights, seeds, root)
    metrics = evaluate(weights, onnx, data=holdout_yaml, seeds=seeds, rig=IN_CABIN_17, workdir=root,
                       imgsz=settings.imgsz, camera=settings.holdout_camera)  # fmt: skip
    return weights, metrics
