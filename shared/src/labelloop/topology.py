"""THE declaration of Labelloop's AWS resources: buckets, topics, queues, DLQs, subscriptions,
tables and S3 notifications. Declared once here; `labelloop.provision` creates it and deploy/ecs
is checked against it.

Names here are *logical*; :class:`StackNames` turns them into physical names with the stack
prefix (``labelloop-frames-extracted``), so two stacks can share an account or an emulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from labelloop.events import EVENT_MODELS

FOURTEEN_DAYS_S = 14 * 24 * 3600


@dataclass(frozen=True)
class Bucket:
    name: str
    purpose: str


@dataclass(frozen=True)
class Topic:
    """An SNS topic; ``events`` are the event types published on it."""

    name: str
    events: tuple[str, ...]


@dataclass(frozen=True)
class Queue:
    """A service's SQS queue, subscribed to ``topics`` with raw delivery, with its own DLQ.

    ``visibility_timeout_s`` is how long a message in flight stays hidden between heartbeats;
    long handlers (a clip's decoding, a batch on Triton) keep extending it. It is also how long a
    message of a crashed worker waits before another worker gets it, so it stays short: the
    chaos suite's SIGKILLs waited out 300 s on ingest's before. The worker runtime reads the
    timeout and ``max_receive_count`` back from the queue itself.
    """

    name: str
    service: str
    topics: tuple[str, ...]
    visibility_timeout_s: int = 60
    max_receive_count: int = 3
    retention_s: int = FOURTEEN_DAYS_S

    @property
    def dlq_name(self) -> str:
        return f"{self.name}-dlq"


@dataclass(frozen=True)
class Index:
    """A global secondary index with a string partition key and a number sort key. Sparse: only
    items that have ``sort_key`` are in it, so a hot path queries just the items it wants."""

    name: str
    partition_key: str
    sort_key: str

    def attribute_definitions(self) -> list[dict[str, str]]:
        return [
            {"AttributeName": self.partition_key, "AttributeType": "S"},
            {"AttributeName": self.sort_key, "AttributeType": "N"},
        ]

    def declaration(self) -> dict[str, Any]:
        """As CreateTable and CloudFormation take it (every attribute projected)."""
        return {
            "IndexName": self.name,
            "KeySchema": [
                {"AttributeName": self.partition_key, "KeyType": "HASH"},
                {"AttributeName": self.sort_key, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }


@dataclass(frozen=True)
class Table:
    """A DynamoDB table (on-demand), string keys, optional TTL attribute and indexes."""

    name: str
    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None
    indexes: tuple[Index, ...] = ()

    def attribute_definitions(self) -> list[dict[str, str]]:
        keys = [self.partition_key, *([self.sort_key] if self.sort_key else [])]
        declared = [{"AttributeName": key, "AttributeType": "S"} for key in keys]
        for index in self.indexes:
            declared += [a for a in index.attribute_definitions() if a["AttributeName"] not in keys]
        return list({a["AttributeName"]: a for a in declared}.values())


@dataclass(frozen=True)
class BucketNotification:
    """S3 ``ObjectCreated`` events of ``bucket`` published to ``topic``.

    No prefix filter on purpose: ingest must see keys outside its prefixes to reject them loudly
    rather than have them silently ignored.
    """

    bucket: str
    topic: str


@dataclass(frozen=True)
class Topology:
    buckets: tuple[Bucket, ...]
    topics: tuple[Topic, ...]
    queues: tuple[Queue, ...]
    tables: tuple[Table, ...]
    notifications: tuple[BucketNotification, ...]
    event_topics: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        mapping = {event: topic.name for topic in self.topics for event in topic.events}
        object.__setattr__(self, "event_topics", mapping)

    def with_visibility_timeout(self, seconds: int) -> Topology:
        """The same topology with every queue's visibility timeout set to ``seconds``: a local stack
        where a killed worker's message should come back sooner (tests, the chaos suite)."""
        if not 1 <= seconds <= 43200:
            raise ValueError(f"a visibility timeout is 1 to 43200 s, not {seconds}")
        return replace(self, queues=tuple(replace(q, visibility_timeout_s=seconds) for q in self.queues))

    def queue_for(self, service: str) -> Queue:
        """The queue a service consumes."""
        for queue in self.queues:
            if queue.service == service:
                return queue
        raise KeyError(f"no queue is declared for service {service!r}")

    def topic_for(self, event_type: str) -> str:
        """The topic an event type is published on."""
        try:
            return self.event_topics[event_type]
        except KeyError:
            raise KeyError(f"no topic is declared for event type {event_type!r}") from None

    def problems(self) -> list[str]:
        """Inconsistencies in the declaration itself (empty when it is sound)."""
        found: list[str] = []
        topic_names = {topic.name for topic in self.topics}
        bucket_names = {bucket.name for bucket in self.buckets}
        for event in EVENT_MODELS:
            if event not in self.event_topics:
                found.append(f"event {event} has no topic")
        published = [event for topic in self.topics for event in topic.events]
        found += [f"event {event} is on several topics" for event in set(published) if published.count(event) > 1]
        for queue in self.queues:
            found += [
                f"queue {queue.name} subscribes to unknown topic {t}" for t in queue.topics if t not in topic_names
            ]
        for note in self.notifications:
            if note.bucket not in bucket_names:
                found.append(f"notification on unknown bucket {note.bucket}")
            if note.topic not in topic_names:
                found.append(f"notification to unknown topic {note.topic}")
        names = [q.name for q in self.queues] + [q.dlq_name for q in self.queues]
        found += [f"queue name {n} is declared twice" for n in set(names) if names.count(n) > 1]
        return found


SERVICES = ("ingest", "inference", "selector", "gt-bridge", "trainer")
"""Every queue-consuming service, in pipeline order; each runs as its own process and container."""

PROCESSES = (*SERVICES, "portal")
"""Every process of the local stack: the services plus the self-hosted labeling portal, which
consumes its jobs' own queues (created per job, like Ground Truth's) rather than a declared one."""

TOPOLOGY = Topology(
    buckets=(
        Bucket("uploads", "Input clips (clips/) and still images (images/) uploaded by users."),
        Bucket("data", "Frames, frame manifests, predictions, dataset manifests and labels."),
        Bucket("models", "Model registry: weights, ONNX exports, metrics per version."),
    ),
    topics=(
        Topic("uploads", ("S3ObjectCreated",)),
        Topic("frames-extracted", ("FramesExtracted",)),
        Topic("predictions-ready", ("PredictionsReady",)),
        Topic("auto-accepted", ("AutoAcceptedBatch", "AutoAccepted")),  # AutoAccepted: no longer published
        Topic("human-review-requested", ("HumanReviewRequested",)),
        Topic("labels-completed", ("LabelsCompleted",)),
        Topic("model-promoted", ("ModelPromoted",)),
        Topic("thresholds", ("ThresholdChanged",)),  # for people and dashboards; no service acts on it
    ),
    queues=(
        Queue("ingest", "ingest", ("uploads",)),
        Queue("inference", "inference", ("frames-extracted", "model-promoted")),
        # labels-completed: people's labels of audited frames are the evidence of the selector's thresholds
        Queue("selector", "selector", ("predictions-ready", "labels-completed")),
        Queue("gt-bridge", "gt-bridge", ("human-review-requested",)),
        Queue("trainer", "trainer", ("labels-completed",)),  # counting only; training is the scheduler's
    ),
    tables=(
        Table("idempotency", partition_key="id", ttl_attribute="expiry"),
        # selector: decisions, budgets, and per model version its audits (queried by "audits", best score
        # first, to prove a threshold) and calibration
        Table(
            "selector-state",
            partition_key="pk",
            ttl_attribute="expiry",
            indexes=(Index("audits", "audit_versions", "audit_score"),),
        ),
        # gt-bridge: labeling jobs (per modality and level) and every data object's send state; the
        # sweep queries "pending" (objects not yet labelled, per job, by last send) instead of scanning.
        Table("labeling", partition_key="pk", indexes=(Index("pending", "job_key", "pending_since"),)),
        # The self-hosted portal's own state: jobs, tasks, dedup ids (its "Ground Truth" side); every pass
        # queries "open" (a job's unfinished tasks), so no portal process keeps tasks of its own; people's
        # corrections along tracks (propagation) expire by "expiry".
        Table("portal", partition_key="pk", ttl_attribute="expiry", indexes=(Index("open", "open_job", "open_id"),)),
        # trainer: label counter, training lock, model registry (versions, metrics, serving).
        Table("models", partition_key="pk"),
    ),
    notifications=(BucketNotification("uploads", "uploads"),),
)


@dataclass(frozen=True)
class StackNames:
    """Physical names and ARNs of the topology's resources for one stack prefix."""

    stack: str = "labelloop"

    def physical(self, logical: str) -> str:
        return f"{self.stack}-{logical}"

    def topic_arn(self, logical: str, *, partition: str, region: str, account_id: str) -> str:
        return f"arn:{partition}:sns:{region}:{account_id}:{self.physical(logical)}"
