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
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from labelloop.local._children import spawn
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
) -> Path:
    """Write ``<repository>/<name>/config.pbtxt`` and ``<version>/{model.onnx,model.py}``, the
    production repository shape with the local Python-backend wrapper; returns the version folder."""

    def tensors(specs: list[TensorSpec]) -> str:
        return ", ".join(
            f'{{ name: "{s.name}" data_type: TYPE_{s.data_type} dims: [ {", ".join(map(str, s.dims))} ] }}'
            for s in specs
        )

    model_dir = repository / name
    version_dir = model_dir / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    (version_dir / "model.onnx").write_bytes(onnx_model)
    shutil.copyfile(ONNX_WRAPPER, version_dir / "model.py")
    (model_dir / "config.pbtxt").write_text(
        f'name: "{name}"\n'
        'backend: "python"\n'
        f"max_batch_size: {max_batch_size}\n"
        f"input [ {tensors(inputs)} ]\n"
        f"output [ {tensors(outputs)} ]\n"
        f"dynamic_batching {{ max_queue_delay_microseconds: {queue_delay_us} }}\n"
        "instance_group [ { kind: KIND_CPU count: 1 } ]\n"
        # Serve every version present: the trainer adds versions, inference names the one it wants.
        "version_policy: { all: {} }\n"
    )
    return version_dir


class TritonServer:
    """``tritonserver`` on loopback over a model repository, as a child of the launcher."""

    def __init__(
        self,
        repository: Path,
        workspace: Path,
        *,
        host: str = "127.0.0.1",
        explicit_model_control: bool = False,
        log_path: Path | None = None,
    ) -> None:
        self.repository = repository
        self.host = host
        self.http_port, self.grpc_port, self.metrics_port = free_port(host), free_port(host), free_port(host)
        self._workspace = workspace
        self._explicit = explicit_model_control
        self._log_path = log_path or workspace / "triton.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    def start(self, timeout_s: float = 60.0) -> TritonServer:
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
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"tritonserver exited with code {self._process.returncode}; see {self._log_path}")
            if self.is_ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"tritonserver was not ready within {timeout_s:.0f} s; see {self._log_path}")

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}/v2/health/ready", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout_s: float = 20.0) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
