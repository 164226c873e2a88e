"""Ultralytics YOLO training, validation and ONNX export with nothing fetched from the network.

Ultralytics reaches for the network in several places (fonts for plots, pip auto-installs,
settings sync, hub weights). :func:`offline_ultralytics` switches every one of them off before
the package is imported; the import is deferred so that services which never train do not pay
for torch.
"""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from labelloop.model_set import ModelName

BASE_ARCHITECTURE: dict[ModelName, str] = {
    "pose_main": "yolov8n-pose.yaml",
    "pose_visible": "yolov8n-pose.yaml",
    "head": "yolov8n.yaml",
}
"""The Ultralytics network each model is derived from (see :func:`architecture`)."""
MAX_CHANNELS = 512  # yolov8n's deepest layers capped at 128 channels: 2.1M parameters instead of 3.3M


def architecture(model: ModelName, workdir: Path) -> Path:
    """Our network for ``model``: Ultralytics' yolov8n with the deepest layers narrowed.

    Synthetic cabins need less capacity than COCO, and the narrower network is a third smaller
    on disk and in Triton. All three models share the backbone, so ``head`` and ``pose_visible``
    start from ``pose_main``'s weights. Derived at run time from the installed package's own
    definition rather than copied.
    """
    import yaml  # noqa: PLC0415 - see offline_ultralytics: importing ultralytics first would go online
    from ultralytics.nn.tasks import yaml_model_load  # noqa: PLC0415

    config = yaml_model_load(BASE_ARCHITECTURE[model])
    config["scales"] = {"n": [*config["scales"]["n"][:2], MAX_CHANNELS]}
    config["scale"] = "n"
    path = workdir / f"labelloop-{'detect' if model == 'head' else 'pose'}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({k: v for k, v in config.items() if k != "yaml_file"}, sort_keys=False))
    return path


def parent_architecture(model: ModelName, parent: Path, workdir: Path) -> tuple[Path, bool]:
    """The network ``parent``'s weights were trained in, as ``model`` needs it: a pose parent's own
    definition for a pose model; with its ``Pose`` output layer turned into ``Detect`` for ``head``
    (then True: the model learns a task its parent did not).

    So a set's models keep their parent's architecture (yolo11n for the real set, our narrowed
    yolov8n for the synthetic one), and a head detector that a set never had starts from
    ``pose_main``'s backbone and person-box branch: only the keypoint branch is left behind.
    """
    import yaml  # noqa: PLC0415 - see offline_ultralytics

    yolo_class = offline_ultralytics(workdir / "ultralytics-config")
    config = dict(yolo_class(str(parent)).model.yaml)
    *layers, (inputs, repeats, output, _) = config["head"]
    new_task = model == "head" and output == "Pose"
    if new_task:
        config["head"] = [*layers, [inputs, repeats, "Detect", ["nc"]]]
        config.pop("kpt_shape", None)
    elif (output == "Pose") != (model != "head"):
        raise ValueError(f"{parent.name} ends in a {output} layer: {model} cannot start from it")
    if scales := config.get("scales"):
        # Ultralytics takes the scale from the file's name (yolo11s-pose.yaml) and otherwise the first
        # listed: only the parent's own is left, or a yolo11s parent would be rebuilt as a yolo11n.
        scale = config.get("scale") or next(iter(scales))
        config["scales"], config["scale"] = {scale: scales[scale]}, scale
    path = workdir / f"labelloop-{model}-from-{parent.stem}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({k: v for k, v in config.items() if k != "yaml_file"}, sort_keys=False))
    return path, new_task


def offline_ultralytics(config_dir: Path) -> Any:
    """Import ultralytics with downloads, auto-installs and settings sync disabled; returns ``YOLO``."""
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    font = config_dir / "Ultralytics" / "Arial.ttf"
    if not font.exists():  # plots would download Arial.ttf; matplotlib's own font serves as well
        import matplotlib  # noqa: PLC0415 - only needed once per config dir

        font.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)
    from ultralytics import YOLO, settings  # noqa: PLC0415 - must follow the environment set above

    settings.update({"sync": False})
    return YOLO


@dataclass(frozen=True)
class TrainResult:
    weights: Path  # best.pt
    metrics: dict[str, float]


def train(
    model: ModelName,
    data_yaml: Path,
    workdir: Path,
    *,
    parent: Path | None,
    epochs: int,
    imgsz: int,
    batch: int = 32,
    seed: int = 0,
    workers: int = 2,
) -> TrainResult:
    """Train ``model`` on ``data_yaml``, starting from ``parent`` weights (or from scratch)."""
    yolo_class = offline_ultralytics(workdir / "ultralytics-config")
    definition, new_task = (
        parent_architecture(model, parent, workdir) if parent else (architecture(model, workdir), True)
    )
    network = yolo_class(str(definition))
    # Fine-tuning on a few dozen new labels with the from-scratch schedule (AdamW, warm-up, lr 0.01)
    # wipes out what the parent knew: measured pose mAP50 0.87 -> 0.11 after one epoch on 6 images.
    # A detector learning heads from a pose model's person branch has no such knowledge to keep: the
    # usual schedule trains it further (head AP50 0.93 vs 0.87 after 30 epochs on 60 synthetic cabins).
    gentle = {} if new_task else {"optimizer": "SGD", "lr0": 0.002, "warmup_epochs": 0.0}
    results = network.train(
        data=str(data_yaml),
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        device="cpu",
        workers=workers,
        seed=seed,
        deterministic=True,
        pretrained=str(parent) if parent else False,
        project=str(workdir),
        name=model,
        exist_ok=True,
        plots=False,
        verbose=False,
        amp=False,
        # Our pictures are already varied; mosaic of four cabins is not a cabin a camera sees.
        mosaic=0.0,
        close_mosaic=0,
        patience=max(10, epochs),
        **gentle,
    )
    weights = Path(network.trainer.best)
    return TrainResult(weights=weights, metrics=_metrics(results))


def validate(weights: Path, data_yaml: Path, workdir: Path, *, imgsz: int) -> dict[str, float]:
    """Ultralytics' validation of ``weights`` on the ``val`` split of ``data_yaml``."""
    yolo_class = offline_ultralytics(workdir / "ultralytics-config")
    results = yolo_class(str(weights)).val(
        data=str(data_yaml), imgsz=imgsz, batch=16, device="cpu", plots=False, verbose=False,
        project=str(workdir / "val"), name=weights.stem, exist_ok=True, workers=0,
    )  # fmt: skip
    return _metrics(results)


def _metrics(results: Any) -> dict[str, float]:
    """Ultralytics' result dict, keys shortened: ``metrics/mAP50(P)`` → ``pose_map50``."""
    renames = {
        "metrics/mAP50(B)": "box_map50",
        "metrics/mAP50-95(B)": "box_map50_95",
        "metrics/mAP50(P)": "pose_map50",
        "metrics/mAP50-95(P)": "pose_map50_95",
    }
    values = getattr(results, "results_dict", {}) or {}
    return {renames[key]: float(value) for key, value in values.items() if key in renames}


def export_onnx(weights: Path, destination: Path, *, imgsz: int, workdir: Path) -> Path:
    """Export ``weights`` to ONNX (dynamic batch and size, opset 18, uint8 input, the top 300
    candidates out) at ``destination``."""
    yolo_class = offline_ultralytics(workdir / "ultralytics-config")
    with warnings.catch_warnings():
        # torch, onnx and onnxslim flag APIs Ultralytics' exporter uses as deprecated; not ours to act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        network = yolo_class(str(weights))
        exported = Path(network.export(format="onnx", imgsz=imgsz, dynamic=True, opset=18, simplify=True))
    converted = with_top_candidates(with_uint8_input(exported.read_bytes()))
    exported.unlink()  # Ultralytics writes beside the weights, which may be where the destination is
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(converted)
    return destination


def with_uint8_input(model_bytes: bytes) -> bytes:
    """The same network taking uint8 pixels: scaling to [0, 1] moves into the graph.

    Clients then send a quarter of the bytes to Triton (measured: what separates a served model
    from an in-process one at batch 8 / 320 px on a CPU), and no client can scale differently
    from training. Applying it twice is a no-op.
    """
    import onnx  # noqa: PLC0415 - only exports need it
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    [image_input] = graph.input
    if image_input.type.tensor_type.elem_type == TensorProto.UINT8:
        return model_bytes
    pixels_name, scaled_name = image_input.name, image_input.name + "_scaled"
    for node in graph.node:
        node.input[:] = [scaled_name if name == pixels_name else name for name in node.input]
    image_input.type.tensor_type.elem_type = TensorProto.UINT8
    graph.initializer.append(numpy_helper.from_array(np.array(1.0 / 255.0, np.float32), "labelloop_pixel_scale"))
    graph.node.insert(0, helper.make_node("Mul", [pixels_name + "_float", "labelloop_pixel_scale"], [scaled_name]))
    graph.node.insert(0, helper.make_node("Cast", [pixels_name], [pixels_name + "_float"], to=TensorProto.FLOAT))
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


TOP_CANDIDATES = 300
"""Anchors an exported graph keeps per image, the most confident first (Ultralytics keeps at most
300 detections after NMS; far fewer pass the confidence threshold)."""


def with_top_candidates(model_bytes: bytes, k: int = TOP_CANDIDATES) -> bytes:
    """The same network returning only its ``k`` most confident anchors: ``(B, C, min(k, anchors))``.

    At 640 px the raw output is 8,400 anchors x (5 + 3K) floats, 1.9 MB an image, which Triton
    copies out of its backend and through HTTP for the client to drop almost all of it; keeping
    the top ``k`` in the graph sends 28x less. The rows and their meaning are unchanged, so
    decoding is the same. Applying it twice is a no-op.
    """
    import onnx  # noqa: PLC0415 - only exports need it
    from onnx import helper, numpy_helper  # noqa: PLC0415

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    if any(node.name == "labelloop_top_candidates" for node in graph.node):
        return model_bytes
    [output] = graph.output
    raw, full = output.name, output.name + "_all_anchors"
    for node in graph.node:
        node.output[:] = [full if name == raw else name for name in node.output]
    constants = {
        "labelloop_k": np.array([k], np.int64),
        "labelloop_conf_start": np.array([4], np.int64),
        "labelloop_conf_end": np.array([5], np.int64),
        "labelloop_axis1": np.array([1], np.int64),
        "labelloop_dim0": np.array([0], np.int64),
        "labelloop_dim1": np.array([1], np.int64),
        "labelloop_dim2": np.array([2], np.int64),
    }
    graph.initializer.extend(numpy_helper.from_array(value, name) for name, value in constants.items())
    graph.node.extend([
        helper.make_node("Shape", [full], ["lt_shape"]),
        helper.make_node("Gather", ["lt_shape", "labelloop_dim0"], ["lt_batch"]),
        helper.make_node("Gather", ["lt_shape", "labelloop_dim1"], ["lt_rows"]),
        helper.make_node("Gather", ["lt_shape", "labelloop_dim2"], ["lt_anchors"]),
        helper.make_node("Min", ["lt_anchors", "labelloop_k"], ["lt_k"]),
        helper.make_node("Slice", [full, "labelloop_conf_start", "labelloop_conf_end", "labelloop_axis1"], ["lt_conf"]),
        helper.make_node("Squeeze", ["lt_conf", "labelloop_axis1"], ["lt_conf_2d"]),
        helper.make_node("TopK", ["lt_conf_2d", "lt_k"], ["lt_values", "lt_indices"], axis=1),
        helper.make_node("Unsqueeze", ["lt_indices", "labelloop_axis1"], ["lt_indices_3d"]),
        helper.make_node("Concat", ["lt_batch", "lt_rows", "lt_k"], ["lt_target"], axis=0),
        helper.make_node("Expand", ["lt_indices_3d", "lt_target"], ["lt_indices_all"]),
        helper.make_node("GatherElements", [full, "lt_indices_all"], [raw], axis=2, name="labelloop_top_candidates"),
    ])  # fmt: skip
    output.type.tensor_type.shape.dim[2].dim_param = "candidates"
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
