"""SIGTERM during a handler, on a real worker process: the message is never lost."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labelloop import AwsClients, EventPublisher, LabelsCompleted, StackNames, parse_body
from labelloop.provision import ProvisionedStack

from tests.helpers import eventually, payload

pytestmark = pytest.mark.integration
REPO = Path(__file__).parents[2]


def start_worker(env: dict[str, str], *, sleep_s: float, drain_s: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.slow_service"],
        cwd=REPO,
        env={
            **env,
            "LABELLOOP_TRAINER_STACK": "test",
            "LABELLOOP_TRAINER_POLL_WAIT_S": "1",
            "LABELLOOP_TRAINER_HANDLER_SLEEP_S": str(sleep_s),
            "LABELLOOP_TRAINER_DRAIN_TIMEOUT_S": str(drain_s),
            "LABELLOOP_TRAINER_LOG_FORMAT": "json",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def keys(aws: AwsClients, names: StackNames, prefix: str) -> list[str]:
    listing = aws.s3.list_objects_v2(Bucket=names.physical("data"), Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]


def publish_one(aws: AwsClients, names: StackNames) -> LabelsCompleted:
    [event] = parse_body(payload("labels_completed.json"))
    assert isinstance(event, LabelsCompleted)
    EventPublisher.for_stack(aws, names).publish(event)
    return event


def test_sigterm_lets_the_running_handler_finish_then_exits_cleanly(
    aws: AwsClients, stack: ProvisionedStack, names: StackNames, local_env: dict[str, str]
) -> None:
    """SIGTERM mid-handler: the handler completes within the drain time, the message is deleted, exit 0."""
    event = publish_one(aws, names)
    worker = start_worker(local_env, sleep_s=3, drain_s=20)
    try:
        eventually(lambda: keys(aws, names, "started/"), timeout_s=30)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        worker.kill()
    assert worker.returncode == 0, output.decode()
    assert keys(aws, names, "done/") == [f"done/{event.event_id}"]
    attributes = aws.sqs.get_queue_attributes(QueueUrl=stack.queue_urls["trainer"], AttributeNames=["All"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert b'"worker.stopped"' in output


def test_sigterm_past_the_drain_timeout_hands_the_message_back_at_once(
    aws: AwsClients, stack: ProvisionedStack, names: StackNames, local_env: dict[str, str]
) -> None:
    """A handler that cannot finish in time: the worker exits, the message is visible again at once
    (not after the 15-minute visibility timeout) and a new worker completes it."""
    event = publish_one(aws, names)
    worker = start_worker(local_env, sleep_s=120, drain_s=1)
    try:
        eventually(lambda: keys(aws, names, "started/"), timeout_s=30)
        stopped_at = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        worker.kill()
    assert worker.returncode == 0, output.decode()
    assert time.monotonic() - stopped_at < 10
    assert b'"worker.drain_timeout"' in output
    assert keys(aws, names, "done/") == []

    successor = start_worker(local_env, sleep_s=0, drain_s=5)
    try:
        eventually(lambda: keys(aws, names, "done/"), timeout_s=20)
    finally:
        successor.send_signal(signal.SIGTERM)
        successor.communicate(timeout=30)
    assert keys(aws, names, "done/") == [f"done/{event.event_id}"]
