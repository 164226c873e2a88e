"""``labelloop up``: moto_server, the topology, and every service as its own supervised process."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType

from labelloop.aws import AwsClients
from labelloop.exit_codes import ExitCode
from labelloop.logs import get_logger
from labelloop.model_install import install_first_set
from labelloop.model_registry import Registry
from labelloop.provision import provision
from labelloop.topology import PROCESSES, TOPOLOGY, StackNames
from labelloop_portal.for_tools import WEBHOOK_PATH

from labelloop_tools.local._children import spawn
from labelloop_tools.local.label_studio import LabelStudioAccess, LabelStudioServer
from labelloop_tools.local.moto import MotoServer, free_port
from labelloop_tools.local.triton import TritonServer

log = get_logger()

# moto accepts any credentials; fixed dummies keep real ones from travelling to the children.
LOCAL_CREDENTIALS = ("labelloop-local", "labelloop-local")
LOCAL_REGION = "us-east-1"
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS[0],
    "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS[1],
    "AWS_DEFAULT_REGION": LOCAL_REGION,
}


def local_clients(endpoint_url: str) -> AwsClients:
    """Clients for the embedded stack's emulator."""
    return AwsClients(endpoint_url=endpoint_url, region=LOCAL_REGION, credentials=LOCAL_CREDENTIALS)


def service_module(service: str) -> str:
    """The importable module that runs ``service`` (``python -m labelloop_gt_bridge``)."""
    return "labelloop_" + service.replace("-", "_")


def service_env_prefix(service: str) -> str:
    """The documented settings prefix of ``service`` (``LABELLOOP_GT_BRIDGE_``)."""
    return "LABELLOOP_" + service.replace("-", "_").upper() + "_"


@dataclass
class StackState:
    """What a running ``labelloop up`` tells other commands (written to ``stack.json``)."""

    endpoint_url: str
    stack: str
    launcher_pid: int
    services: dict[str, int] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    triton_url: str | None = None
    model_repository: str | None = None
    portal_url: str | None = None
    label_studio_url: str | None = None

    @staticmethod
    def path(state_dir: Path) -> Path:
        return state_dir / "stack.json"

    def write(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path(state_dir).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(self.path(state_dir))

    @classmethod
    def read(cls, state_dir: Path) -> StackState | None:
        """The state of a *live* launcher, or None (a stale file from a killed launcher is ignored)."""
        try:
            state = cls(**json.loads(cls.path(state_dir).read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return state if _alive(state.launcher_pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Child:
    service: str
    process: subprocess.Popen[bytes]
    restarts: int = 0
    restart_at: float | None = None


class EmbeddedStack:
    """Starts, supervises and stops the embedded stack. ``run()`` blocks until SIGINT/SIGTERM."""

    def __init__(
        self,
        *,
        state_dir: Path,
        stack: str = "labelloop",
        port: int | None = None,
        services: tuple[str, ...] = PROCESSES,
        drain_timeout_s: float = 20.0,
        extra_env: dict[str, str] | None = None,
        initial_models: Path | None = None,
        service_logs: Path | None = None,
        visibility_timeout_s: int | None = None,
        label_studio: bool | LabelStudioAccess = False,
    ) -> None:
        self._state_dir = state_dir
        # None: the declared timeouts (60 s); shorter brings a killed service's messages back sooner.
        self._topology = (
            TOPOLOGY if visibility_timeout_s is None else TOPOLOGY.with_visibility_timeout(visibility_timeout_s)
        )
        self._names = StackNames(stack)
        self._services = services
        self._drain_timeout_s = drain_timeout_s
        self._extra_env = extra_env or {}
        self._moto = MotoServer(port=port, log_path=state_dir / "moto.log")
        # Triton serves the model repository under the state dir, seeded with the model set in
        # this folder; the trainer adds versions there. None: no Triton (stacks without inference).
        self._initial_models = initial_models
        self.model_repository = state_dir / "model-repository"
        self._triton: TritonServer | None = None
        self._portal_port = free_port()
        # People label in Label Studio instead of the portal's page, and the portal keeps it in step: one
        # started here (True), or one the user runs already (its access).
        self.label_studio: LabelStudioServer | None = None
        self.label_studio_access: LabelStudioAccess | None = None
        if label_studio is True:
            self.label_studio = LabelStudioServer(state_dir / "label-studio", log_path=state_dir / "label-studio.log")
            self.label_studio_access = self.label_studio.access
        elif isinstance(label_studio, LabelStudioAccess):
            self.label_studio_access = label_studio
        self._webhook_secret = secrets.token_urlsafe(24)
        self._clock_origin = f"{time.time():.3f}"
        self._children: dict[str, _Child] = {}
        self._stopping = False
        # None: services log to the launcher's terminal; a directory: one <service>.log each there.
        self._service_logs = service_logs

    @property
    def endpoint_url(self) -> str:
        return self._moto.url

    @property
    def stack(self) -> str:
        return self._names.stack

    @property
    def portal_url(self) -> str | None:
        """The labeling portal's web page, when the portal runs."""
        return f"http://127.0.0.1:{self._portal_port}/" if "portal" in self._services else None

    @property
    def triton_url(self) -> str | None:
        return self._triton.http_url if self._triton else None

    def stop(self) -> None:
        """Ask ``run()`` to drain and stop everything (from any thread)."""
        self._stopping = True

    def run(
        self,
        on_ready: Callable[[EmbeddedStack], None] | None = None,
        before_shutdown: Callable[[], None] | None = None,
    ) -> int:
        """Start everything, call ``on_ready``, supervise until stopped; ``before_shutdown`` runs
        while the stack still answers (a driver finishing its reads)."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            self._moto.start()
            log.info("stack.emulator_ready", endpoint_url=self.endpoint_url)
            provision(local_clients(self.endpoint_url), self._names, self._topology)
            if self._initial_models is not None:
                self._start_triton(self._initial_models)
            if self.label_studio is not None:
                # Like the emulator, it starts empty: an earlier run's projects name jobs that are gone,
                # and its admin holds the token of that run.
                shutil.rmtree(self.label_studio.data_dir, ignore_errors=True)
                self.label_studio.start()
                log.info("stack.label_studio_ready", url=self.label_studio.url)
            for service in self._services:
                self._children[service] = _Child(service, self._spawn(service))
            StackState(
                endpoint_url=self.endpoint_url,
                stack=self._names.stack,
                launcher_pid=os.getpid(),
                services={name: child.process.pid for name, child in self._children.items()},
                triton_url=self._triton.http_url if self._triton else None,
                model_repository=str(self.model_repository) if self._triton else None,
                portal_url=self.portal_url,
                label_studio_url=self.label_studio_access.url if self.label_studio_access else None,
            ).write(self._state_dir)
            if on_ready is not None:
                on_ready(self)
            log.info("stack.up", endpoint_url=self.endpoint_url, services=list(self._services))
            self._supervise()
            if before_shutdown is not None:
                before_shutdown()
        finally:
            self._shutdown()
        return ExitCode.OK

    def _start_triton(self, model_set_folder: Path) -> None:
        # The emulator starts empty, so the registry does too: a repository left by an earlier run
        # (another set, the trainer's versions) would serve models the registry does not name.
        shutil.rmtree(self.model_repository, ignore_errors=True)
        clients = local_clients(self.endpoint_url)
        registry = Registry(clients.dynamodb, self._names.physical("models"))
        installed = install_first_set(model_set_folder, registry=registry,
                                      s3=clients.s3, models_bucket=self._names.physical("models"),
                                      repository=self.model_repository)  # fmt: skip
        if installed is not None:
            log.info("stack.models_installed", model_set=installed.name, rig=installed.rig.name,
                     visibility_rule=installed.visibility_rule, head_rule=installed.head_rule,
                     repository=str(self.model_repository))  # fmt: skip
        self._triton = TritonServer(
            self.model_repository,
            self._state_dir / "triton",
            explicit_model_control=True,
            log_path=self._state_dir / "triton.log",
        ).start()
        log.info("stack.triton_ready", url=self._triton.http_url)

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        if not self._stopping:
            log.info("stack.stopping", signal=signal.Signals(signum).name)
        self._stopping = True

    def _env(self, service: str) -> dict[str, str]:
        prefix = service_env_prefix(service)
        return {
            **os.environ,
            **LOCAL_AWS_ENV,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            f"{prefix}STACK": self._names.stack,
            f"{prefix}DRAIN_TIMEOUT_S": str(self._drain_timeout_s),
            # Short polls make Ctrl-C snappy; against the local emulator the extra requests cost nothing.
            f"{prefix}POLL_WAIT_S": "2",
            **self._triton_env(service),
            "LABELLOOP_PORTAL_HTTP_PORT": str(self._portal_port),
            # One origin for every process and every restart: scaled clocks then agree (labelloop.clock).
            "LABELLOOP_CLOCK_ORIGIN": os.environ.get("LABELLOOP_CLOCK_ORIGIN") or self._clock_origin,
            **self._label_studio_env(),
            **self._extra_env,
        }

    def _label_studio_env(self) -> dict[str, str]:
        """gt-bridge hands jobs to the portal as Label Studio jobs; the portal reaches Label Studio,
        and Label Studio's webhook reaches the portal, both on loopback."""
        access = self.label_studio_access
        if access is None:
            return {}
        return {
            "LABELLOOP_GT_BRIDGE_BACKEND": "label-studio",
            "LABELLOOP_PORTAL_LABEL_STUDIO_URL": access.url,
            "LABELLOOP_PORTAL_LABEL_STUDIO_TOKEN": access.token,
            "LABELLOOP_PORTAL_LABEL_STUDIO_WEBHOOK_URL": f"http://127.0.0.1:{self._portal_port}{WEBHOOK_PATH}",
            "LABELLOOP_PORTAL_LABEL_STUDIO_WEBHOOK_SECRET": self._webhook_secret,
        }

    def _triton_env(self, service: str) -> dict[str, str]:
        if self._triton is None:
            return {}
        prefix = service_env_prefix(service)
        return {
            f"{prefix}TRITON_URL": self._triton.http_url,
            f"{prefix}MODEL_REPOSITORY": str(self.model_repository),
            # The trainer registers the shipped set as version 1 from here, whatever its cwd.
            f"{prefix}INITIAL_MODELS": str(self._initial_models.resolve()) if self._initial_models else "",
        }

    def _spawn(self, service: str) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", service_module(service)]
        if self._service_logs is None:
            return spawn(args, env=self._env(service))
        self._service_logs.mkdir(parents=True, exist_ok=True)
        with (self._service_logs / f"{service}.log").open("ab") as log_file:  # the child keeps its own handle
            return spawn(args, env=self._env(service), stdout=log_file, stderr=subprocess.STDOUT)

    def _supervise(self) -> None:
        while not self._stopping:
            now = time.monotonic()
            for child in self._children.values():
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        child.process = self._spawn(child.service)
                        child.restart_at = None
                    continue
                code = child.process.poll()
                if code is not None:
                    child.restarts += 1
                    delay = min(30.0, 2.0 ** min(child.restarts, 5))
                    child.restart_at = now + delay
                    log.warning("stack.service_exited", service=child.service, exit_code=code, restart_in_s=delay)
            time.sleep(0.2)

    def _shutdown(self) -> None:
        running = [c.process for c in self._children.values() if c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._drain_timeout_s + 5
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("stack.service_killed", pid=process.pid)
                process.kill()
                process.wait()
        if self._triton is not None:
            self._triton.stop()
        if self.label_studio is not None:
            self.label_studio.stop()
        self._moto.stop()
        StackState.path(self._state_dir).unlink(missing_ok=True)
        log.info("stack.down")
