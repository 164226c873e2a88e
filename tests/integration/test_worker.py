"""The SQS worker runtime against a real moto server: delivery, retries, DLQ, idempotency, heartbeats."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import structlog
from labelloop import (
    DEAD_LETTER_REASON,
    AwsClients,
    Dispatcher,
    EventPublisher,
    IdempotencyStore,
    LabelsCompleted,
    Outcome,
    PermanentError,
    StackNames,
    Worker,
    parse_body,
)
from labelloop.provision import ProvisionedStack
from labelloop.retry import RetryPolicy
from structlog.testing import capture_logs

from tests.helpers import eventually, payload, worker_running

pytestmark = pytest.mark.integration


def labels_completed(n: int, event_id: str | None = None) -> LabelsCompleted:
    [template] = parse_body(payload("labels_completed.json"))
    assert isinstance(template, LabelsCompleted)
    return template.model_copy(update={"event_id": event_id or f"event-{n:04d}", "correlation_id": f"clip-{n}"})


NO_WAIT = RetryPolicy(initial_s=0.0, max_s=0.0)
ONE_SECOND = RetryPolicy(initial_s=1.0, multiplier=1.0, max_s=1.0)
FIVE_MINUTES = RetryPolicy(initial_s=300.0, multiplier=1.0, max_s=300.0)


class Recorder:
    """A handler that records what it saw, optionally misbehaving."""

    def __init__(self, behaviour: Callable[[LabelsCompleted], None] | None = None) -> None:
        self.seen: list[LabelsCompleted] = []
        self._lock = threading.Lock()
        self._behaviour = behaviour

    def __call__(self, event: LabelsCompleted, deps: object) -> None:
        with self._lock:
            self.seen.append(event)
        if self._behaviour:
            self._behaviour(event)

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(e.event_id for e in self.seen)


@contextmanager
def running(
    aws: AwsClients,
    stack: ProvisionedStack,
    names: StackNames,
    handler: Recorder,
    *,
    concurrency: int = 4,
    retry: RetryPolicy = NO_WAIT,
) -> Iterator[Worker]:
    """A trainer-queue worker (real dispatcher + DynamoDB idempotency) running in a thread."""
    dispatcher = Dispatcher(
        service="trainer",
        handlers={LabelsCompleted: handler},
        deps=None,
        idempotency=IdempotencyStore(aws.dynamodb, names.physical("idempotency")),
    )
    worker = Worker(
        sqs=aws.sqs,
        queue_url=stack.queue_urls["trainer"],
        handle=dispatcher,
        concurrency=concurrency,
        poll_wait_s=1,
        drain_timeout_s=10,
        retry=retry,
    )
    with worker_running(worker):
        yield worker


def depth(aws: AwsClients, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def dead_letters(aws: AwsClients, stack: ProvisionedStack, queue: str = "trainer") -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := aws.sqs.receive_message(
        QueueUrl=stack.dlq_urls[queue], MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages += batch
    return messages


def handled_lines(logs: list[dict[str, Any]], outcome: Outcome | None = None) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "message.handled" and (outcome is None or e["outcome"] == outcome)]


def test_sns_to_sqs_round_trip_through_the_worker(aws: AwsClients, stack: ProvisionedStack, names: StackNames) -> None:
    """An event published to SNS reaches the handler typed and intact, is deleted, and logs one line."""
    recorder = Recorder()
    event = labels_completed(1)
    with (
        capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs,
        running(aws, stack, names, recorder),
    ):
        EventPublisher.for_stack(aws, names).publish(event)
        eventually(recorder.ids)
        eventually(lambda: depth(aws, stack.queue_urls["trainer"]) == (0, 0))
    assert recorder.seen == [event]
    [line] = handled_lines(logs)
    assert line["outcome"] == "handled"
    assert line["event_id"] == event.event_id
    assert line["correlation_id"] == event.correlation_id
    assert line["event_type"] == "LabelsCompleted"
    assert line["duration_ms"] >= 0


def test_poison_message_lands_in_the_dlq_after_max_receive_count(
    aws: AwsClients, stack: ProvisionedStack, names: StackNames
) -> None:
    """A handler that always fails is retried maxReceiveCount times, then dead-lettered with its reason."""

    def explode(_: LabelsCompleted) -> None:
        raise RuntimeError("model file is corrupt")

    recorder = Recorder(explode)
    with (
        capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs,
        running(aws, stack, names, recorder),
    ):
        EventPublisher.for_stack(aws, names).publish(labels_completed(2))
        eventually(lambda: depth(aws, stack.queue_urls["trainer"]) == (0, 0) and len(recorder.seen) == 3)
    [letter] = dead_letters(aws, stack)
    reason = letter["MessageAttributes"][DEAD_LETTER_REASON]["StringValue"]
    assert reason == "RuntimeError: model file is corrupt (gave up after 3 attempts)"
    assert letter["MessageAttributes"]["labelloop.receive_count"]["StringValue"] == "3"
    assert letter["MessageAttributes"]["type"]["StringValue"] == "LabelsCompleted"
    assert parse_body(letter["Body"]) == [labels_completed(2)]
    retries = handled_lines(logs, Outcome.RETRY)
    [dead] = handled_lines(logs, Outcome.DEAD_LETTERED)
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all("model file is corrupt" in r["reason"] for r in retries)
    assert dead["reason"] == reason
    assert dead["log_level"] == "error"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "SQS message body is not valid JSON"),
        (payload("unknown_version.json"), "unsupported version 2 of FramesExtracted"),
        (payload("model_promoted.json"), "trainer has no handler for ModelPromoted"),
    ],
)
def test_permanent_failures_are_dead_lettered_at_once_with_the_body_kept(
    aws: AwsClients, stack: ProvisionedStack, names: StackNames, body: str, reason: str
) -> None:
    """Bad input is not retried: it goes to the DLQ on first receipt, body byte-for-byte, reason attached."""
    recorder = Recorder()
    sent = aws.sqs.send_message(QueueUrl=stack.queue_urls["trainer"], MessageBody=body)
    with running(aws, stack, names, recorder):
        eventually(lambda: depth(aws, stack.queue_urls["trainer"]) == (0, 0))
    [letter] = dead_letters(aws, stack)
    assert letter["Body"] == body
    assert reason in letter["MessageAttributes"][DEAD_LETTER_REASON]["StringValue"]
    assert letter["MessageAttributes"]["labelloop.receive_count"]["StringValue"] == "1"
    assert letter["MessageAttributes"]["labelloop.source_message_id"]["StringValue"] == sent["MessageId"]
    assert recorder.seen == []


def test_handler_raising_permanent_error_is_dead_lettered_once(
    aws: AwsClients, stack: ProvisionedStack, names: StackNames
) -> None:
    """A handler's own PermanentError skips retries; the pipeline keeps flowing for the next event."""

    def reject_first(event: LabelsCompleted) -> None:
        if event.event_id == "event-0001":
            raise PermanentError("frame is outside the configured buckets")

    recorder = Recorder(reject_first)
    with running(aws, stack, names, recorder):
        EventPublisher.for_stack(aws, names).publish_all([labels_completed(1), labels_completed(2)])
        eventually(lambda: len(recorder.seen) == 2 and depth(aws, stack.queue_urls["trainer"]) == (0, 0))
    [letter] = dead_letters(aws, stack)
    assert letter["MessageAttributes"][DEAD_LETTER_REASON]["StringValue"] == "frame is outside the configured buckets"
    assert recorder.ids() == ["event-0001", "event-0002"]


def test_duplicate_delivery_is_handled_once(aws: AwsClients, stack: ProvisionedStack, names: StackNames) -> None:
    """The same event delivered twice runs the handler once; the copy is acknowledged as a duplicate."""
    recorder = Recorder()
    publisher = EventPublisher.for_stack(aws, names)
    with capture_logs() as logs, running(aws, stack, names, recorder, concurrency=1):
        publisher.publish(labels_completed(3))
        eventually(recorder.ids)
        publisher.publish(labels_completed(3))
        eventually(lambda: len(handled_lines(logs)) == 2 and depth(aws, stack.queue_urls["trainer"]) == (0, 0))
    assert recorder.ids() == ["event-0003"]
    assert sorted(e["outcome"] for e in handled_lines(logs)) == ["duplicate", "handled"]


def test_competing_workers_handle_each_of_many_duplicates_once(
    aws: AwsClients, stack: ProvisionedStack, names: StackNames
) -> None:
    """Two workers racing over 5 events x 6 copies run each handler exactly once and lose nothing."""
    recorder = Recorder(lambda _: time.sleep(0.3))
    events = [labels_completed(n) for n in range(5)] * 6
    EventPublisher.for_stack(aws, names).publish_all(events)
    with (
        running(aws, stack, names, recorder, retry=ONE_SECOND),
        running(aws, stack, names, recorder, retry=ONE_SECOND),
    ):
        eventually(lambda: depth(aws, stack.queue_urls["trainer"]) == (0, 0), timeout_s=60)
    assert recorder.ids() == [f"event-{n:04d}" for n in range(5)]
    assert dead_letters(aws, stack) == []


def test_long_handler_keeps_its_message_invisible_with_heartbeats(
    aws: AwsClients, stack: ProvisionedStack, names: StackNames
) -> None:
    """A handler running 3x the visibility timeout is not redelivered meanwhile; it completes once."""
    aws.sqs.set_queue_attributes(QueueUrl=stack.queue_urls["trainer"], Attributes={"VisibilityTimeout": "2"})
    recorder = Recorder(lambda _: time.sleep(6))
    with capture_logs() as logs, running(aws, stack, names, recorder, concurrency=2):
        EventPublisher.for_stack(aws, names).publish(labels_completed(4))
        eventually(lambda: handled_lines(logs), timeout_s=30)
        eventually(lambda: depth(aws, stack.queue_urls["trainer"]) == (0, 0))
    assert len(recorder.seen) == 1
    assert [e["outcome"] for e in handled_lines(logs)] == ["handled"]


def test_only_successes_are_deleted(aws: AwsClients, stack: ProvisionedStack, names: StackNames) -> None:
    """In a mixed batch, successes are deleted, transient failures stay queued, permanent ones go to the DLQ."""

    def mixed(event: LabelsCompleted) -> None:
        n = int(event.event_id.rsplit("-", 1)[1])
        if n % 5 == 1:
            raise ConnectionError("labeling backend unreachable")
        if n % 5 == 2:
            raise PermanentError("no such labeling job")

    recorder = Recorder(mixed)
    EventPublisher.for_stack(aws, names).publish_all([labels_completed(n) for n in range(10)])
    with running(aws, stack, names, recorder, concurrency=10, retry=FIVE_MINUTES):
        eventually(lambda: len(recorder.seen) == 10)
        eventually(lambda: depth(aws, stack.queue_urls["trainer"]) == (0, 2))
    assert len(dead_letters(aws, stack)) == 2


def test_a_message_received_again_while_its_handler_runs_is_not_started_twice(
    aws: AwsClients, stack: ProvisionedStack, names: StackNames
) -> None:
    """A process starved of CPU past its heartbeats (simulated: no visibility extensions) sees its own
    running message come back from the queue: the running handler goes on and deletes it by the new
    receipt handle; no second handler starts, nothing is retried or dead-lettered."""
    # Received again once (at 2 s), not past the queue's maxReceiveCount, where SQS itself moves it to the DLQ.
    aws.sqs.set_queue_attributes(QueueUrl=stack.queue_urls["trainer"], Attributes={"VisibilityTimeout": "2"})
    recorder = Recorder(lambda _: time.sleep(3))
    with capture_logs() as logs, running(aws, stack, names, recorder, concurrency=2) as worker:
        worker._change_visibility = lambda *_: None  # type: ignore[method-assign]  # starved heartbeats
        EventPublisher.for_stack(aws, names).publish(labels_completed(5))
        eventually(lambda: handled_lines(logs), timeout_s=30)
        eventually(lambda: depth(aws, stack.queue_urls["trainer"]) == (0, 0), timeout_s=10)
    assert len(recorder.seen) == 1
    assert [e["outcome"] for e in handled_lines(logs)] == ["handled"]
    assert [e for e in logs if e["event"] == "worker.received_while_running"], "the message never came back"
    assert dead_letters(aws, stack) == []
