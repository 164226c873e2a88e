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
from pathlib import Path
from typing import Self

from labelloop_tools.local._children import ChildServer, spawn
from labelloop_tools.local.moto import free_port


def _pytriton_home() -> Path:
    try:
        import pytriton  # noqa: PLC0415 - optional: only the local stack needs the wheel
    except ImportError:
        raise RuntimeError(
            "the local Triton needs the nvidia-pytriton wheel: pip install 'labelloop-shared[triton]'"
        ) from None
    return Path(pytriton.__file__).parent / "tritonserver"


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
