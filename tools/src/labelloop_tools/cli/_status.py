"""``labelloop status``: queue depths, in-flight and dead letters per service."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from labelloop.topology import TOPOLOGY

from labelloop_tools.cli._target import Target

_COUNTS = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


@dataclass(frozen=True)
class QueueRow:
    service: str
    queue: str
    waiting: int
    in_flight: int
    delayed: int
    dead_letters: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def queue_rows(target: Target) -> list[QueueRow]:
    """One row per service queue, in pipeline order. Raises botocore errors if unreachable."""
    sqs = target.clients.sqs
    rows = []
    for queue in TOPOLOGY.queues:
        url = sqs.get_queue_url(QueueName=target.names.physical(queue.name))["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName=target.names.physical(queue.dlq_name))["QueueUrl"]
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=_COUNTS)["Attributes"]  # type: ignore[arg-type]
        dead = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        rows.append(
            QueueRow(
                service=queue.service,
                queue=target.names.physical(queue.name),
                waiting=int(counts.get("ApproximateNumberOfMessages", 0)),
                in_flight=int(counts.get("ApproximateNumberOfMessagesNotVisible", 0)),
                delayed=int(counts.get("ApproximateNumberOfMessagesDelayed", 0)),
                dead_letters=int(dead.get("ApproximateNumberOfMessages", 0)),
            )
        )
    return rows
