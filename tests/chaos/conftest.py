"""The chaos suite's stack: a real ``labelloop up`` (moto, Triton, every service as a supervised
process), clips with hidden truth, and the demo's ledger to count what was lost or duplicated.

``LABELLOOP_CHAOS_PROFILE=full`` (``make chaos``) runs longer scenarios; CI runs the short one.
Every scenario adds a row to the table printed at the end of the session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from labelloop import AwsClients, StackNames, dlq
from labelloop.model_registry import Registry
from labelloop.synth.clips import store_truth, write_clip
from labelloop.topology import TOPOLOGY
from labelloop.uploads import metadata_for
from labelloop_tools.demo.ledger import Ledger
from labelloop_tools.demo.plan import DemoPlan
from labelloop_tools.local import StackState, free_port
from labelloop_tools.local.stack import local_clients

from tests.helpers import eventually

REPO = Path(__file__).parents[2]
FULL = os.environ.get("LABELLOOP_CHAOS_PROFILE", "short") == "full"
MODALITIES = ("head", "keypoints")
VISIBILITY_TIMEOUT_S = 15
"""The chaos stack's queues: a SIGKILLed service's message in flight returns after this (the declared 60 s
would make the kill scenario wait minutes)."""


@dataclass
class ScenarioRow:
    scenario: str
    injected: str
    lost: int
    duplicated: int
    dead_lettered: dict[str, list[str]] = field(default_factory=dict)


ROWS: list[ScenarioRow] = []
BAD_INPUT: dict[str, tuple[str, str]] = {}  # kind -> (service whose DLQ holds it, the reason given)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    write = terminalreporter.write_line
    write("")
    write(f"{'scenario':<34} {'injected':<44} {'lost':>4} {'dup':>4}  dead-lettered (reason)")
    for row in ROWS:
        letters = "; ".join(f"{service}: {len(reasons)} ({reasons[0][:70]})" for service, reasons in
                            row.dead_lettered.items() if reasons) or "-"  # fmt: skip
        write(f"{row.scenario:<34} {row.injected[:44]:<44} {row.lost:>4} {row.duplicated:>4}  {letters}")
    for kind, (service, reason) in BAD_INPUT.items():
        write(f"  bad input: {kind:<34} → {service} DLQ: {reason[:110]}")


class ChaosStack:
    """Handles on a running ``labelloop up``."""

    def __init__(self, state_dir: Path, process: subprocess.Popen[bytes], log: Path) -> None:
        self.state_dir = state_dir
        self.process = process
        self.log = log
        state = eventually(lambda: StackState.read(state_dir), timeout_s=120, interval_s=0.5)
        self.state: StackState = state
        self.names = StackNames(state.stack)
        self.clients: AwsClients = local_clients(state.endpoint_url)
        self.registry = Registry(self.clients.dynamodb, self.names.physical("models"))
        self._clip_dir = state_dir / "clips"
        self._uploaded = 0

    def pid(self, service: str) -> int:
        """The service's current pid (the launcher restarts killed ones; stack.json keeps the first)."""
        module = f"-m labelloop_{service.replace('-', '_')}"
        pids = [pid for pid, command in _processes() if command.endswith(module) and _parent(pid) == self.process.pid]
        assert pids, f"{service} is not running"
        return pids[0]

    def child_pid(self, pattern: str) -> int:
        """A server the launcher started itself (moto_server, tritonserver), by command line."""
        pids = [pid for pid, command in _processes() if pattern in command and _is_descendant(pid, self.process.pid)]
        assert pids, f"no process matching {pattern!r} under the launcher"
        return pids[0]

    def upload_clips(self, count: int, *, seed: int, seconds: float = 2.0) -> set[str]:
        """Render ``count`` clips (truth stored first), upload them; their upload keys."""
        keys = set()
        for index in range(count):
            self._uploaded += 1
            name = f"chaos-{seed}-{index}.mp4"
            path = self._clip_dir / name
            rendered = write_clip(path, seed * 100 + index, seconds=seconds, fps=10, camera="standard")
            key = f"clips/{name}"
            store_truth(self.clients.s3, self.names.physical("data"), key, rendered, 10)
            self.clients.s3.upload_file(str(path), self.names.physical("uploads"), key,
                                        ExtraArgs={"Metadata": metadata_for(fps=4.0)})  # fmt: skip
            keys.add(key)
        return keys

    def ledger(self, keys: set[str]) -> Ledger:
        ledger = Ledger(self.clients, self.names, MODALITIES)
        ledger.refresh(keys)
        return ledger

    def settle(self, keys: set[str], expected_frames: int, timeout_s: float = 240) -> Ledger:
        """Wait until every frame of ``keys`` has a final fate (or time runs out); the ledger then."""
        deadline = time.monotonic() + timeout_s
        ledger = self.ledger(keys)
        while time.monotonic() < deadline and not (len(ledger.frames) >= expected_frames and ledger.settled()):
            time.sleep(1.0)
            ledger = self.ledger(keys)
        return ledger

    def dead_letters(self) -> dict[str, list[str]]:
        """Every service's dead-letter reasons (left in place)."""
        return {service: [letter.reason for letter in letters] for service, letters in self.letters().items()}

    def letters(self) -> dict[str, list[dlq.DeadLetter]]:
        """Every service's dead letters, with reason and body (left in place)."""
        found: dict[str, list[dlq.DeadLetter]] = {}
        for queue in TOPOLOGY.queues:
            url = self.clients.sqs.get_queue_url(QueueName=self.names.physical(queue.dlq_name))["QueueUrl"]
            found[queue.service] = dlq.peek(self.clients.sqs, url, 100)
        return found

    def queue_url(self, service: str) -> str:
        queue = TOPOLOGY.queue_for(service)
        return self.clients.sqs.get_queue_url(QueueName=self.names.physical(queue.name))["QueueUrl"]

    def in_flight(self, service: str) -> int:
        """Messages of the service's queue received and not yet deleted."""
        attributes = self.clients.sqs.get_queue_attributes(
            QueueUrl=self.queue_url(service), AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _processes() -> Iterator[tuple[int, str]]:
    """(pid, command line) of every process, from /proc."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue


def _is_descendant(pid: int, ancestor: int) -> bool:
    while pid > 1:
        pid = _parent(pid)
        if pid == ancestor:
            return True
    return False


def expected_frames(clips: int, seconds: float = 2.0, fps: float = 4.0) -> int:
    return clips * int(seconds * fps)


@pytest.fixture(scope="session")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosStack]:
    state_dir = tmp_path_factory.mktemp("chaos-stack")
    plan = DemoPlan.quick()
    env = {
        **os.environ,
        **plan.stack_env(),
        # About half of standard frames go to people (least-confidence scores of standard frames: median
        # 0.24; both clips of the duplicates scenario score 0.20-0.28, so 0.2 would send none of them).
        "LABELLOOP_SELECTOR_THRESHOLD": "0.25",
        "LABELLOOP_CLOCK_SPEED": "200",  # the simulated annotator answers within a second
        "LABELLOOP_TRAINER_EPOCHS": "1",
        "LABELLOOP_TRAINER_HOLDOUT_SIZE": "8",
        "LABELLOOP_TRAINER_HOLDOUT_CAMERA": "standard",
        "LABELLOOP_TRAINER_SETTLE_S": "2",
        "LABELLOOP_TRAINER_LOCK_TTL_S": "60",  # a SIGKILLed trainer's lock must not block the suite for hours
        "LABELLOOP_TRAINER_THRESHOLD": "1000000",  # only the duplicates scenario trains (it lowers nothing: counts)
        "YOLO_VERBOSE": "False",
    }
    log = state_dir / "stack.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "labelloop_tools", "up", "--port", str(free_port()), "--stack", "chaos",
             "--state-dir", str(state_dir), "--models", str(REPO / "models" / "initial"),
             # A killed service's message comes back after 15 s instead of the declared 60.
             "--visibility-timeout", str(VISIBILITY_TIMEOUT_S)],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
    try:
        yield ChaosStack(state_dir, process, log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def restarts(log: Path) -> dict[str, int]:
    """How often the launcher saw each service exit (a crash loop shows here)."""
    counts: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        if '"stack.service_exited"' in line:
            service = json.loads(line).get("service", "?")
            counts[service] = counts.get(service, 0) + 1
    return counts
