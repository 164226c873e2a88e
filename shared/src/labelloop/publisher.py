"""Publishing events to the topic the topology declares for their type."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from labelloop.aws import AwsClients
from labelloop.errors import RetryableError
from labelloop.events import Event
from labelloop.topology import TOPOLOGY, StackNames, Topology

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

SNS_BATCH_LIMIT = 10


class EventPublisher:
    """Publishes events as JSON to SNS, with ``type``/``version``/``correlation_id`` attributes.

    The attributes let subscriptions use filter policies without parsing bodies.
    """

    def __init__(self, sns: SNSClient, topic_arns: Mapping[str, str]) -> None:
        self._sns = sns
        self._topic_arns = dict(topic_arns)

    @classmethod
    def for_stack(cls, clients: AwsClients, names: StackNames, topology: Topology = TOPOLOGY) -> EventPublisher:
        """A publisher for every event type of ``topology`` in the stack ``names``."""
        arns = {
            event_type: names.topic_arn(
                topic, partition=clients.partition, region=clients.region_name, account_id=clients.account_id
            )
            for event_type, topic in topology.event_topics.items()
        }
        return cls(clients.sns, arns)

    def publish(self, event: Event) -> str:
        """Publish one event; returns the SNS message id."""
        response = self._sns.publish(
            TopicArn=self._topic_arn(event), Message=event.model_dump_json(), MessageAttributes=_attributes(event)
        )
        return response["MessageId"]

    def publish_all(self, events: Sequence[Event]) -> None:
        """Publish many events in SNS batches of ten; raise if any entry failed (caller retries all).

        Consumers de-duplicate by ``event_id``, so republishing the whole set after a partial
        failure is safe.
        """
        by_topic: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_topic[self._topic_arn(event)].append(event)
        for topic_arn, topic_events in by_topic.items():
            for start in range(0, len(topic_events), SNS_BATCH_LIMIT):
                chunk = topic_events[start : start + SNS_BATCH_LIMIT]
                response = self._sns.publish_batch(
                    TopicArn=topic_arn,
                    PublishBatchRequestEntries=[
                        {"Id": str(i), "Message": e.model_dump_json(), "MessageAttributes": _attributes(e)}
                        for i, e in enumerate(chunk)
                    ],
                )
                if failed := response.get("Failed"):
                    raise RetryableError(f"{len(failed)} of {len(chunk)} events were not published: {failed[0]}")

    def _topic_arn(self, event: Event) -> str:
        event_type = str(getattr(event, "type", type(event).__name__))
        try:
            return self._topic_arns[event_type]
        except KeyError:
            raise KeyError(f"no topic is known for event type {event_type!r}") from None


def _attributes(event: Event) -> Any:
    return {
        "type": {"DataType": "String", "StringValue": str(getattr(event, "type", type(event).__name__))},
        "version": {"DataType": "Number", "StringValue": str(getattr(event, "version", 1))},
        "correlation_id": {"DataType": "String", "StringValue": event.correlation_id},
    }
