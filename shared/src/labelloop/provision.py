"""Provision: create the topology on an endpoint (moto, LocalStack or an AWS account), idempotently.

Running it twice changes nothing the second time: existing resources are converged (queue
attributes set, missing subscriptions added) rather than recreated, and an unchanged S3
notification is not rewritten (rewriting it makes S3 emit another ``s3:TestEvent``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from pydantic_settings import SettingsConfigDict

from labelloop.aws import AwsClients
from labelloop.logs import get_logger
from labelloop.one_off import run_one_off
from labelloop.queue_policy import policy_of, service_may, with_topic
from labelloop.settings import ServiceSettings
from labelloop.topology import TOPOLOGY, Queue, StackNames, Table, Topology

log = get_logger()


@dataclass
class ProvisionedStack:
    """Physical identifiers of a provisioned stack."""

    buckets: dict[str, str] = field(default_factory=dict)
    topic_arns: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    dlq_urls: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)


def provision(clients: AwsClients, names: StackNames, topology: Topology = TOPOLOGY) -> ProvisionedStack:
    """Create or converge every resource of ``topology`` under ``names``; return their identifiers."""
    if problems := topology.problems():
        raise ValueError("the topology declaration is inconsistent: " + "; ".join(problems))
    created = ProvisionedStack()
    for bucket in topology.buckets:
        created.buckets[bucket.name] = _ensure_bucket(clients, names.physical(bucket.name))
    for topic in topology.topics:
        created.topic_arns[topic.name] = clients.sns.create_topic(Name=names.physical(topic.name))["TopicArn"]
    for queue in topology.queues:
        dlq_url, queue_url = _ensure_queue_pair(clients, names, queue, created.topic_arns)
        created.dlq_urls[queue.name] = dlq_url
        created.queue_urls[queue.name] = queue_url
        for topic_name in queue.topics:
            _ensure_subscription(clients, created.topic_arns[topic_name], queue_url)
    for table in topology.tables:
        created.tables[table.name] = _ensure_table(clients, names.physical(table.name), table)
    for note in topology.notifications:
        _ensure_notification(clients, created.buckets[note.bucket], created.topic_arns[note.topic])
    log.info("topology.ready", stack_name=names.stack, queues=len(created.queue_urls), topics=len(created.topic_arns))
    return created


def _ensure_bucket(clients: AwsClients, name: str) -> str:
    args: dict[str, Any] = {"Bucket": name}
    if clients.region_name != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": clients.region_name}
    try:
        clients.s3.create_bucket(**args)
    except ClientError as error:
        if error.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    return name


def _queue_url(clients: AwsClients, name: str, attributes: dict[str, str]) -> str:
    try:
        return clients.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
    except ClientError as error:
        if error.response["Error"]["Code"] not in {"QueueAlreadyExists", "QueueNameExists"}:
            raise
    # It exists with other attributes (an older declaration): converge rather than fail.
    url = clients.sqs.get_queue_url(QueueName=name)["QueueUrl"]
    clients.sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # type: ignore[arg-type]
    return url


def _queue_arn(clients: AwsClients, url: str) -> str:
    attributes = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return attributes["QueueArn"]


def _ensure_queue_pair(
    clients: AwsClients, names: StackNames, queue: Queue, topic_arns: dict[str, str]
) -> tuple[str, str]:
    dlq_url = _queue_url(clients, names.physical(queue.dlq_name), {"MessageRetentionPeriod": str(queue.retention_s)})
    queue_url = _queue_url(
        clients,
        names.physical(queue.name),
        {
            "VisibilityTimeout": str(queue.visibility_timeout_s),
            "MessageRetentionPeriod": str(queue.retention_s),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": _queue_arn(clients, dlq_url), "maxReceiveCount": str(queue.max_receive_count)}
            ),
        },
    )
    # Real AWS drops SNS deliveries unless the queue's policy lets its topics send.
    queue_arn = _queue_arn(clients, queue_url)
    sources = [topic_arns[topic] for topic in queue.topics]
    policy = policy_of(service_may("AllowSubscribedTopics", "sns.amazonaws.com", "sqs:SendMessage", queue_arn, sources))
    clients.sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": policy})
    return dlq_url, queue_url


def subscribe_queue(clients: AwsClients, topic_arn: str, queue_url: str, *, attempts: int = 5) -> None:
    """Subscribe a queue to a topic created at run time (a labeling job's topics), raw delivery,
    and let that topic send to the queue; idempotent.

    The policy is merged (:func:`labelloop.queue_policy.with_topic`), never replaced. SQS has no
    conditional write, so two workers adding topics at once could each overwrite the other's: the
    write is read back and repeated until the topic is in.
    """
    queue_arn = _queue_arn(clients, queue_url)
    for _ in range(attempts):
        attributes = clients.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])
        current = attributes.get("Attributes", {}).get("Policy")
        merged = with_topic(json.loads(current) if current else None, queue_arn, topic_arn)
        if merged is None:
            break
        clients.sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(merged)})
    else:
        raise RuntimeError(f"the policy of {queue_url} kept losing {topic_arn} to concurrent writers")
    _ensure_subscription(clients, topic_arn, queue_url)


def _ensure_subscription(clients: AwsClients, topic_arn: str, queue_url: str) -> None:
    queue_arn = _queue_arn(clients, queue_url)
    paginator = clients.sns.get_paginator("list_subscriptions_by_topic")
    for page in paginator.paginate(TopicArn=topic_arn):
        if any(sub["Endpoint"] == queue_arn for sub in page["Subscriptions"]):
            return
    clients.sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
        ReturnSubscriptionArn=True,
    )


def _ensure_table(clients: AwsClients, name: str, table: Table) -> str:
    keys = [{"AttributeName": table.partition_key, "KeyType": "HASH"}]
    if table.sort_key:
        keys.append({"AttributeName": table.sort_key, "KeyType": "RANGE"})
    indexes = {"GlobalSecondaryIndexes": [index.declaration() for index in table.indexes]} if table.indexes else {}
    try:
        clients.dynamodb.create_table(
            TableName=name,
            KeySchema=keys,  # type: ignore[arg-type]
            AttributeDefinitions=table.attribute_definitions(),  # type: ignore[arg-type]
            BillingMode="PAY_PER_REQUEST",
            **indexes,  # type: ignore[arg-type]
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise
    clients.dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    _ensure_indexes(clients, name, table)
    if table.ttl_attribute:
        current = clients.dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}:
            clients.dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute}
            )
    return name


def _ensure_indexes(clients: AwsClients, name: str, table: Table) -> None:
    """Add the declared indexes a table created by an older version lacks (one at a time, as DynamoDB allows)."""
    described = clients.dynamodb.describe_table(TableName=name)["Table"]
    present = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}
    for index in table.indexes:
        if index.name in present:
            continue
        clients.dynamodb.update_table(
            TableName=name,
            AttributeDefinitions=index.attribute_definitions(),  # type: ignore[arg-type]
            GlobalSecondaryIndexUpdates=[{"Create": index.declaration()}],  # type: ignore[typeddict-item]
        )
        clients.dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def _ensure_notification(clients: AwsClients, bucket: str, topic_arn: str) -> None:
    wanted = [{"TopicArn": topic_arn, "Events": ["s3:ObjectCreated:*"]}]
    current = clients.s3.get_bucket_notification_configuration(Bucket=bucket).get("TopicConfigurations", [])
    if [{"TopicArn": c["TopicArn"], "Events": list(c["Events"])} for c in current] == wanted:
        return
    # Real AWS refuses the configuration unless the topic lets S3 publish to it.
    source = f"arn:aws:s3:::{bucket}"
    statement = service_may("AllowBucketNotifications", "s3.amazonaws.com", "SNS:Publish", topic_arn, [source])
    topic_policy = policy_of(statement)
    clients.sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=topic_policy)
    clients.s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"TopicConfigurations": wanted},  # type: ignore[typeddict-item]
    )


class ProvisionSettings(ServiceSettings):
    """``python -m labelloop.provision``: the stack to provision, and where."""

    model_config = SettingsConfigDict(env_prefix="LABELLOOP_PROVISION_", extra="ignore", frozen=True)


def main() -> int:
    """Provision the stack from any service image (docker compose's one-off ``provision`` step), where
    the ``labelloop`` command (the tools package) is not installed. Exit codes as the CLI's."""
    return run_one_off("provision", ProvisionSettings, _provisioned)


def _provisioned(settings: ProvisionSettings, clients: AwsClients) -> None:
    provision(clients, StackNames(settings.stack))


if __name__ == "__main__":
    raise SystemExit(main())
