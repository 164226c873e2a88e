"""Label Studio as a child process, from its own virtualenv: ``labelloop up --labeling label-studio`` and
the tests start it on loopback with SQLite, an admin login and a generated API token.

``label-studio==1.23.2`` needs numpy ≥ 2 and Django; ours is numpy < 2 (pytriton), so it lives in
``.venv-label-studio`` (``make label-studio`` builds it, and ``make test`` and ``make up-label-studio``
do when it is missing).

Measured on a fresh instance: the token given by ``LABEL_STUDIO_USER_TOKEN`` is refused ("legacy token
authentication has been disabled for this organization") until an admin session turns legacy tokens on
(:func:`labelloop_portal.label_studio_setup.enable_legacy_tokens`), which :meth:`LabelStudioServer.start`
does. Webhooks to a loopback URL are refused as a reserved address unless ``SSRF_PROTECTION_ENABLED=false``,
which a local instance sets.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from labelloop_portal.for_tools import enable_legacy_tokens

from labelloop_tools.local._children import ChildServer, spawn
from labelloop_tools.local.moto import free_port

REPO = Path(__file__).resolve().parents[4]
VENV = Path(os.environ.get("LABELLOOP_LABEL_STUDIO_VENV", REPO / ".venv-label-studio"))
EXECUTABLE = VENV / "bin" / "label-studio"
VERSION = "1.23.2"
START_TIMEOUT_S = 240.0  # ~40 s on a quiet 2-core machine; Django's first migrations take longer


def missing_reason() -> str | None:
    """Why Label Studio cannot be started here (no virtualenv), or None."""
    if EXECUTABLE.exists() and (VENV / ".installed").exists():
        return None
    return f"Label Studio's virtualenv is not built ({EXECUTABLE} missing): run `make label-studio`"


@dataclass(frozen=True)
class Login:
    email: str
    password: str
    token: str


@dataclass(frozen=True)
class LabelStudioAccess:
    """A Label Studio the portal talks to: where it is, and the token the portal uses there."""

    url: str
    token: str


class LabelStudioServer(ChildServer):
    """``label-studio start`` on loopback with its data (SQLite, uploads) under ``data_dir``."""

    name = "label-studio"
    poll_interval_s = 1.0

    def __init__(self, data_dir: Path, *, port: int | None = None, log_path: Path | None = None) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.port = port or free_port()
        self._log_path = log_path
        self.login = Login("admin@labelloop.local", secrets.token_urlsafe(12), secrets.token_hex(20))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access(self) -> LabelStudioAccess:
        return LabelStudioAccess(self.url, self.login.token)

    @property
    def ready_url(self) -> str:
        return f"{self.url}/health"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Self:
        if reason := missing_reason():
            raise RuntimeError(reason)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self._log_path.open("ab") if self._log_path else subprocess.DEVNULL
        env = {
            **os.environ,
            "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
            "LABEL_STUDIO_USERNAME": self.login.email,
            "LABEL_STUDIO_PASSWORD": self.login.password,
            "LABEL_STUDIO_USER_TOKEN": self.login.token,
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            # Webhooks go to our portal on 127.0.0.1, which Label Studio's SSRF guard refuses otherwise.
            "SSRF_PROTECTION_ENABLED": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "COLLECT_ANALYTICS": "false",
        }
        args = [str(EXECUTABLE), "start", "--no-browser", "--host", self.url, "--internal-host", "127.0.0.1",
                "--port", str(self.port)]  # fmt: skip
        self._process = spawn(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready(timeout_s, hint=f"its log: {self._log_path or 'not kept'}")
        enable_legacy_tokens(self.url, self.login.email, self.login.password)
        return self
