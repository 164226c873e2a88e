"""Triton's model repository: the production layout the trainer and the local stack both write.

``<repository>/<model>/config.pbtxt`` plus ``<repository>/<model>/<version>/model.onnx``; Triton
serves every version present and inference names the one it wants. Production Triton runs the
ONNX file natively (``backend="onnxruntime"``); the embedded stack's Triton (the nvidia-pytriton
wheel) has only the Python backend, so there each version also gets ``triton_onnx_model.py`` as
its ``model.py``, which runs the same file with onnxruntime.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from labelloop.model_set import ModelSet

ONNX_WRAPPER = Path(__file__).with_name("triton_onnx_model.py")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    data_type: str
    """Triton's name without the prefix: FP32, FP16, INT64, UINT8..."""
    dims: tuple[int, ...]


def write_onnx_model(
    repository: Path,
    name: str,
    onnx_model: bytes,
    *,
    version: int,
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    max_batch_size: int = 8,
    queue_delay_us: int = 2000,
    backend: str = "python",
) -> Path:
    """Write ``<repository>/<name>/config.pbtxt`` and ``<version>/model.onnx``, the production
    repository shape; returns the version folder.

    ``backend="python"`` (the local stack: the wheel's Triton has only the Python backend) adds
    the ``model.py`` wrapper that runs the ONNX file; ``"onnxruntime"`` is for a full Triton
    image (docker compose, ECS), which runs it natively.
    """

    def tensors(specs: list[TensorSpec]) -> str:
        return ", ".join(
            f'{{ name: "{s.name}" data_type: TYPE_{s.data_type} dims: [ {", ".join(map(str, s.dims))} ] }}'
            for s in specs
        )

    model_dir = repository / name
    version_dir = model_dir / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    (version_dir / "model.onnx").write_bytes(onnx_model)
    if backend == "python":
        shutil.copyfile(ONNX_WRAPPER, version_dir / "model.py")
    (model_dir / "config.pbtxt").write_text(
        f'name: "{name}"\n'
        f'backend: "{backend}"\n'
        f"max_batch_size: {max_batch_size}\n"
        f"input [ {tensors(inputs)} ]\n"
        f"output [ {tensors(outputs)} ]\n"
        f"dynamic_batching {{ max_queue_delay_microseconds: {queue_delay_us} }}\n"
        "instance_group [ { kind: KIND_CPU count: 1 } ]\n"
        # Serve every version present: the trainer adds versions, inference names the one it wants.
        "version_policy: { all: {} }\n"
    )
    return version_dir


# Ultralytics' exported graphs (with uint8 pixels in, see labelloop_trainer.training.with_uint8_input):
# a letterboxed RGB batch in, one (4 + 1 + K*3, anchors) tensor out. Spatial sizes stay dynamic so
# one repository serves any imgsz.
YOLO_INPUTS = [TensorSpec("images", "UINT8", (3, -1, -1))]
YOLO_OUTPUTS = [TensorSpec("output0", "FP32", (-1, -1))]


def write_model_set(repository: Path, folder: Path, model_set: ModelSet, backend: str = "python") -> list[str]:
    """Write the slots of ``model_set`` (ONNX files in ``folder``) into ``repository`` at their
    versions, skipping versions already there; returns the models written."""
    written: list[str] = []
    for name, slot in model_set.models.items():
        if (repository / name / str(slot.version) / "model.onnx").exists():
            continue
        onnx_model = (folder / f"{name}.onnx").read_bytes()
        write_onnx_model(repository, name, onnx_model, version=slot.version, inputs=YOLO_INPUTS, outputs=YOLO_OUTPUTS,
                         backend=backend)  # fmt: skip
        written.append(name)
    return written
