"""A real Triton Inference Server from the nvidia-pytriton wheel, for the embedded local stack.

The wheel ships the ``tritonserver`` binary with the Python backend only. Three facts make it
run outside PyTriton (ENVIRONMENT.md): a backend folder holding ``libtriton_python.so``,
``triton_python_backend_utils.py`` and the stub for this Python; ``LD_LIBRARY_PATH`` starting with
this interpreter's LIBDIR (else models fail with ``'_thread.RLock' object has no attribute
'_recursion_count'``) plus ``nvidia_pytriton.libs``; and model code that finds this venv's
packages itself (``LABELLOOP_TRITON_SITE``, see ``triton_onnx_model.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from labelloop.local._children import ChildServer, spawn
from labelloop.local.moto import free_port

ONNX_WRAPPER = Path(__file__).with_name("triton_onnx_model.py")


def _pytriton_home() -> Path:
    try:
        import pytriton  # noqa: PLC0415 - optional: only the local stack needs the wheel
    except ImportError:
        raise RuntimeError(
            "the local Triton needs the nvidia-pytriton wheel: pip install 'labelloop-shared[triton]'"
        ) from None
    return Path(pytriton.__file__).parent / "tritonserver"


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


class TritonServer(ChildServer):
    """``tritonserver`` on loopback over a model repository, as a child of the launcher."""

    name = "tritonserver"
    poll_interval_s = 0.2
    stop_timeout_s = 20.0

    def __init__(
        self,
        repository: Path,
        workspace: Path,
        *,
        host: str = "127.0.0.1",
        explicit_model_control: bool = False,
        log_path: Path | None = None,
        http_port: int | None = None,
    ) -> None:
        super().__init__()
        self.repository = repository
        self.host = host
        # A fixed HTTP port lets a restarted server come back where its clients look for it.
        self.http_port = http_port or free_port(host)
        self.grpc_port, self.metrics_port = free_port(host), free_port(host)
        self._workspace = workspace
        self._explicit = explicit_model_control
        self._log_path = log_path or workspace / "triton.log"

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def ready_url(self) -> str:
        return f"http://{self.http_url}/v2/health/ready"

    def _threads_per_model(self) -> int:
        """The cores shared out between the models, which all run at once.

        onnxruntime's default (every core per session) oversubscribes the CPU as soon as the three
        models of a batch run side by side: measured 0.7x of in-process speed with it, 1.1x with
        one thread each on 2 cores.
        """
        models = sum(1 for config in self.repository.glob("*/config.pbtxt"))
        return max(1, (os.cpu_count() or 1) // max(1, models))

    def start(self, timeout_s: float = 60.0) -> Self:
        home = _pytriton_home()
        backend = self._workspace / "backends" / "python"
        backend.mkdir(parents=True, exist_ok=True)
        for source in (
            home / "backends" / "python" / "libtriton_python.so",
            home / "backends" / "python" / "triton_python_backend_utils.py",
            home
            / "python_backend_stubs"
            / f"{sys.version_info.major}.{sys.version_info.minor}"
            / "triton_python_backend_stub",
        ):
            shutil.copy2(source, backend / source.name)
        site_packages = [p for p in sys.path if p.endswith("site-packages")]
        libs = [str(sysconfig.get_config_var("LIBDIR"))] + [
            str(Path(p) / "nvidia_pytriton.libs") for p in site_packages
        ]
        env = {
            **os.environ,
            "LD_LIBRARY_PATH": os.pathsep.join([*libs, os.environ.get("LD_LIBRARY_PATH", "")]),
            # Everything this interpreter can import (site-packages and editable installs alike).
            "LABELLOOP_TRITON_SITE": os.pathsep.join(p for p in sys.path if p),
            "LABELLOOP_TRITON_ORT_THREADS": os.environ.get("LABELLOOP_TRITON_ORT_THREADS")
            or str(self._threads_per_model()),
        }
        args = [
            str(home / "bin" / "tritonserver"),
            f"--model-repository={self.repository}",
            f"--backend-directory={self._workspace / 'backends'}",
            f"--http-address={self.host}", f"--http-port={self.http_port}",
            f"--grpc-address={self.host}", f"--grpc-port={self.grpc_port}",
            f"--metrics-address={self.host}", f"--metrics-port={self.metrics_port}",
            "--log-verbose=0",
        ]  # fmt: skip
        if self._explicit:
            args += ["--model-control-mode=explicit", "--load-model=*"]
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("ab") as log:
            self._process = spawn(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready(timeout_s, hint=f"see {self._log_path}")
        return self


SERVED_MODELS = ("pose_main", "pose_visible", "head")
"""The models inference calls; each ships as ``<name>.onnx`` in the initial-models folder."""

# Ultralytics' exported graphs (with uint8 pixels in, see labelloop_trainer.training.with_uint8_input):
# a letterboxed RGB batch in, one (4 + 1 + K*3, anchors) tensor out. Spatial sizes stay dynamic so
# one repository serves any imgsz.
YOLO_INPUTS = [TensorSpec("images", "UINT8", (3, -1, -1))]
YOLO_OUTPUTS = [TensorSpec("output0", "FP32", (-1, -1))]


def install_initial_models(repository: Path, source: Path, backend: str = "python") -> list[str]:
    """Put the shipped models into ``repository`` as version 1 of each, unless it has them already.

    A repository the trainer has since added versions to is left alone; returns the models written.
    """
    missing = [name for name in SERVED_MODELS if not (source / f"{name}.onnx").is_file()]
    if missing:
        raise FileNotFoundError(
            f"{source} lacks {', '.join(m + '.onnx' for m in missing)}; "
            "train them with `python -m labelloop_trainer.initial_models` (see models/initial/README.md)"
        )
    written = []
    for name in SERVED_MODELS:
        if (repository / name / "config.pbtxt").exists():
            continue
        onnx_model = (source / f"{name}.onnx").read_bytes()
        write_onnx_model(
            repository, name, onnx_model, version=1, inputs=YOLO_INPUTS, outputs=YOLO_OUTPUTS, backend=backend
        )
        written.append(name)
    return written
