"""Dead letters: look at them without consuming them, and replay them after a fix.

The worker runtime annotates every dead letter it writes with ``labelloop.*`` message attributes
(reason, error type, source message id, receive count). Messages moved by the queue's own redrive
policy (the backstop for crashes) carry none; their reason is in the service's log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from labelloop.worker import DEAD_LETTER_REASON, SQS_BATCH_LIMIT

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

ANNOTATION_PREFIX = "labelloop."
NO_REASON = "(moved by the queue's redrive policy; the reason is in the service's log)"


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    reason: str
    error_type: str
    receive_count: int | None
    dead_since: datetime
    body: str


def peek(sqs: SQSClient, dlq_url: str, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, left in the queue (each is hidden for a moment, then shown again)."""
    seen: dict[str, DeadLetter] = {}
    handles: list[str] = []
    while len(seen) < limit:
        batch = _receive(sqs, dlq_url, min(SQS_BATCH_LIMIT, limit - len(seen)), hide_for_s=30)
        if not batch:
            break
        for message in batch:
            handles.append(message["ReceiptHandle"])
            seen.setdefault(message["MessageId"], _dead_letter(message))
    for start in range(0, len(handles), SQS_BATCH_LIMIT):
        sqs.change_message_visibility_batch(
            QueueUrl=dlq_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(handles[start : start + SQS_BATCH_LIMIT])
            ],
        )
    return sorted(seen.values(), key=lambda letter: letter.dead_since)


def redrive(sqs: SQSClient, dlq_url: str, source_url: str, limit: int | None = None) -> int:
    """Move dead letters back to their source queue, as they were before they failed; returns how many.

    Without ``limit``, moves as many as the DLQ held when called: if the cause is not fixed, the
    consumer dead-letters the replayed messages again, and they must not be replayed in a loop.
    Send-then-delete: a crash in between leaves a copy in both queues, which the consumer's
    idempotency absorbs; nothing is lost.
    """
    if limit is None:
        attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        limit = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    moved = 0
    while moved < limit:
        wanted = min(SQS_BATCH_LIMIT, limit - moved)
        batch = _receive(sqs, dlq_url, wanted, hide_for_s=60)
        if not batch:
            break
        for message in batch:
            original = {
                name: {"DataType": value["DataType"], "StringValue": value["StringValue"]}
                for name, value in message.get("MessageAttributes", {}).items()
                if not name.startswith(ANNOTATION_PREFIX) and "StringValue" in value
            }
            sqs.send_message(QueueUrl=source_url, MessageBody=message["Body"], MessageAttributes=original)  # type: ignore[arg-type]
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved


def _receive(sqs: SQSClient, url: str, count: int, *, hide_for_s: int) -> list[Any]:
    return sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=count,
        VisibilityTimeout=hide_for_s,
        WaitTimeSeconds=1,
        AttributeNames=["SentTimestamp"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])


def _dead_letter(message: Any) -> DeadLetter:
    attributes = message.get("MessageAttributes", {})

    def attribute(name: str) -> str | None:
        value = attributes.get(ANNOTATION_PREFIX + name, {}).get("StringValue")
        return str(value) if value is not None else None

    count = attribute("receive_count")
    sent_ms = int(message.get("Attributes", {}).get("SentTimestamp", "0"))
    return DeadLetter(
        message_id=attribute("source_message_id") or message["MessageId"],
        reason=str(attributes.get(DEAD_LETTER_REASON, {}).get("StringValue") or NO_REASON),
        error_type=attribute("error_type") or "unknown",
        receive_count=int(count) if count else None,
        dead_since=datetime.fromtimestamp(sent_ms / 1000, tz=UTC),
        body=message["Body"],
    )
