"""moto_server as a child process: the embedded default for S3, SNS, SQS and DynamoDB."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Self

from labelloop_tools.local._children import ChildServer, spawn


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (good enough for a local launcher and tests)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class MotoServer(ChildServer):
    """Runs ``moto.server`` on loopback as a child that the launcher stops last, after the services."""

    name = "moto_server"

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None, log_path: Path | None = None) -> None:
        super().__init__()
        self.host = host
        self.port = port or free_port(host)
        self._log_path = log_path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ready_url(self) -> str:
        return f"{self.url}/moto-api/data.json"

    def start(self, timeout_s: float = 30.0) -> Self:
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self._log_path.open("ab") if self._log_path else subprocess.DEVNULL
        self._process = spawn(
            [sys.executable, "-m", "labelloop_tools.local.moto_main", "-H", self.host, "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(timeout_s, hint=f"port {self.port} taken?")
        return self

    def reset(self) -> None:
        """Forget every resource (between tests)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310 (own URL)
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (own URL)
            pass
