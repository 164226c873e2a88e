"""Helpers shared by the test suites (no fixtures here; those live in conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from labelloop import DEAD_LETTER_REASON, AwsClients, Worker, parse_body
from labelloop.model_registry import Registry, VersionRecord
from labelloop.model_set import MODEL_SET, ModelName, ModelSet, SlotModel, read_set_folder
from labelloop.provision import ProvisionedStack
from labelloop.rig import Rig
from labelloop.triton_repository import write_model_set
from labelloop_tools.local import StackState, free_port
from labelloop_tools.local.stack import LOCAL_AWS_ENV
from labelloop_tools.local.triton import TritonServer
from labelloop_tools.model_sets import DEFAULT_SET_FOLDER, install_default_set

EVENTS_DIR = Path(__file__).parent / "events"
T = TypeVar("T")


def payload(name: str) -> str:
    """A recorded or hand-written SQS body from tests/events."""
    return (EVENTS_DIR / name).read_text()


def eventually(check: Callable[[], T], *, timeout_s: float = 20.0, interval_s: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail with its last value after the timeout."""
    deadline = time.monotonic() + timeout_s
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = check()
    assert value, f"condition not met within {timeout_s} s (last value: {value!r})"
    return value


@contextmanager
def worker_running(worker: Worker) -> Iterator[Worker]:
    """Run ``worker`` in a thread for the ``with`` block; stop and join it afterwards."""
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "worker did not stop"


def drain(aws: AwsClients, url: str) -> list[Any]:
    """Receive, parse and delete every message on the queue at ``url``."""
    events: list[Any] = []
    while batch := aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        events += [event for m in batch for event in parse_body(m["Body"])]
        aws.sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )
    return events


def dead_letter_reasons(aws: AwsClients, stack: ProvisionedStack, service: str) -> list[str]:
    """The reasons on every message in ``service``'s DLQ (the messages stay there, invisible a while)."""
    reasons: list[str] = []
    while batch := aws.sqs.receive_message(
        QueueUrl=stack.dlq_urls[service], MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    ).get("Messages", []):
        reasons += [m["MessageAttributes"][DEAD_LETTER_REASON]["StringValue"] for m in batch]
    return reasons


def serve_set(aws: AwsClients, version: int, model_set: ModelSet, *, stack: str = "test") -> None:
    """Declare ``model_set`` as version ``version`` and make it serve, as an install or promotion does."""
    registry = Registry(aws.dynamodb, f"{stack}-models")
    registry.record(
        VersionRecord(version, "promoted", {}, "test", None, 0.0, 0, model_set=model_set.model_dump(mode="json"))
    )
    registry.set_serving(version)


def uniform_set(rig: Rig, imgsz: int, version: int, models: tuple[ModelName, ...] = MODEL_SET) -> ModelSet:
    """A set whose every model in ``models`` is at ``version``."""
    return ModelSet(name=f"test-{rig.name}", rig=rig, imgsz=imgsz,
                    models={name: SlotModel(version=version, source="shipped") for name in models})  # fmt: skip


@contextmanager
def labelloop_up(args: list[str], env: dict[str, str], *, cwd: Path, log_path: Path) -> Iterator[StackState]:
    """`labelloop up ARGS` in the background, as a user leaves it in a terminal; yields its state
    once it is up, and Ctrl-C's it at the end (killed if it does not stop). Its log goes to
    ``log_path``: the services log a line per message, more than a pipe nobody reads can hold."""
    with log_path.open("w") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "labelloop_tools", "up", "--port", str(free_port()), *args],
                                   env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT)  # fmt: skip
    state_dir = Path(env["LABELLOOP_STATE_DIR"])
    try:
        state = eventually(lambda: StackState.read(state_dir) or process.poll() is not None, timeout_s=120)
        assert process.poll() is None, log_path.read_text()[-3000:]
        assert isinstance(state, StackState)
        yield state
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


REPO = Path(__file__).parents[1]


def real_model_set() -> Path:
    """The default real set (yolo11n-pose) as `make install` leaves it, built here if this checkout has not."""
    install_default_set(REPO / DEFAULT_SET_FOLDER)
    return REPO / DEFAULT_SET_FOLDER


@contextmanager
def triton_serving(folder: Path, work: Path) -> Iterator[TritonServer]:
    """Triton (models loaded and unloaded on request, as in production) over a repository holding the set
    in ``folder`` as version 1."""
    write_model_set(work / "repo", folder, read_set_folder(folder))
    with TritonServer(work / "repo", work / "workspace", explicit_model_control=True) as server:
        yield server


def labelloop_cli(
    aws: AwsClients, *args: str, check: bool = True, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """``labelloop *args`` as a user runs it, against the test stack on the moto server."""
    return subprocess.run(
        [sys.executable, "-m", "labelloop_tools", *args, "--endpoint-url", str(aws.endpoint_url), "--stack", "test"],
        env={**os.environ, **LOCAL_AWS_ENV}, capture_output=True, text=True, check=check, timeout=timeout_s,
    )  # fmt: skip
