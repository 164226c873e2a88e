"""Dead letters on a real moto server: listed with their reasons without being consumed, replayed intact."""

from __future__ import annotations

import pytest
from labelloop import AwsClients, StackNames, build_worker, dlq
from labelloop.provision import ProvisionedStack

from tests.helpers import eventually, payload, worker_running
from tests.integration.slow_service import SERVICE, SlowSettings

pytestmark = pytest.mark.integration


def depth(aws: AwsClients, url: str) -> int:
    attributes = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.fixture
def dead_letters(aws: AwsClients, stack: ProvisionedStack, names: StackNames) -> list[str]:
    """Two bodies the trainer worker dead-letters itself: malformed JSON and an unknown version."""
    bodies = ["{garbage", payload("unknown_version.json")]
    for body in bodies:
        aws.sqs.send_message(
            QueueUrl=stack.queue_urls["trainer"],
            MessageBody=body,
            MessageAttributes={"type": {"DataType": "String", "StringValue": "whatever"}},
        )
    with worker_running(build_worker(SERVICE, SlowSettings(stack="test", poll_wait_s=1), aws)) as worker:
        eventually(lambda: worker.counts["dead_lettered"] == 2, timeout_s=30)
    return bodies


def test_peek_shows_reasons_and_leaves_letters_in_place(
    aws: AwsClients, stack: ProvisionedStack, dead_letters: list[str]
) -> None:
    """Each dead letter comes with the worker's reason and error type, and is still there afterwards."""
    letters = dlq.peek(aws.sqs, stack.dlq_urls["trainer"])
    assert sorted(letter.body for letter in letters) == sorted(dead_letters)
    reasons = {letter.body: (letter.error_type, letter.reason, letter.receive_count) for letter in letters}
    assert reasons["{garbage"][0] == "MalformedMessageError"
    assert "not valid JSON" in reasons["{garbage"][1]
    assert reasons[dead_letters[1]][0] == "UnknownEventError"
    assert "unsupported version 2" in reasons[dead_letters[1]][1]
    assert {letter.receive_count for letter in letters} == {1}
    eventually(lambda: depth(aws, stack.dlq_urls["trainer"]) == 2)


def test_redrive_moves_letters_back_as_they_were(
    aws: AwsClients, stack: ProvisionedStack, dead_letters: list[str]
) -> None:
    """Redrive sends the original body and attributes back to the source queue, minus the annotations."""
    assert dlq.redrive(aws.sqs, stack.dlq_urls["trainer"], stack.queue_urls["trainer"], limit=1) == 1
    [back] = aws.sqs.receive_message(
        QueueUrl=stack.queue_urls["trainer"], WaitTimeSeconds=2, MessageAttributeNames=["All"]
    )["Messages"]
    assert back["Body"] in dead_letters
    assert back["MessageAttributes"] == {"type": {"DataType": "String", "StringValue": "whatever"}}
    assert dlq.redrive(aws.sqs, stack.dlq_urls["trainer"], stack.queue_urls["trainer"]) == 1
    assert depth(aws, stack.dlq_urls["trainer"]) == 0


def test_letters_moved_by_the_redrive_policy_say_where_the_reason_is(aws: AwsClients, stack: ProvisionedStack) -> None:
    """A message SQS itself moved (no annotations) is listed with a pointer to the service's log."""
    aws.sqs.send_message(QueueUrl=stack.dlq_urls["selector"], MessageBody="{}")
    [letter] = dlq.peek(aws.sqs, stack.dlq_urls["selector"])
    assert letter.reason == dlq.NO_REASON
    assert letter.error_type == "unknown"
