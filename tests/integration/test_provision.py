"""The topology provisioning on a real moto server: everything exists, wired, and a rerun changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from labelloop import TOPOLOGY, AwsClients, ExitCode, StackNames
from labelloop.provision import ProvisionedStack, provision
from labelloop_tools.local import free_port

from tests.helpers import eventually

pytestmark = pytest.mark.integration


def _receive_all(aws: AwsClients, url: str) -> list[str]:
    bodies: list[str] = []
    while batch := aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        bodies += [m["Body"] for m in batch]
    return bodies


def test_every_queue_has_its_dlq_visibility_and_redrive(aws: AwsClients, stack: ProvisionedStack) -> None:
    """Each declared queue exists with the declared visibility timeout and a redrive to its own DLQ."""
    for queue in TOPOLOGY.queues:
        attributes = aws.sqs.get_queue_attributes(QueueUrl=stack.queue_urls[queue.name], AttributeNames=["All"])[
            "Attributes"
        ]
        dlq_arn = aws.sqs.get_queue_attributes(QueueUrl=stack.dlq_urls[queue.name], AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert attributes["VisibilityTimeout"] == str(queue.visibility_timeout_s)
        assert redrive["deadLetterTargetArn"] == dlq_arn
        assert int(redrive["maxReceiveCount"]) == queue.max_receive_count
        assert json.loads(attributes["Policy"])["Statement"][0]["Principal"] == {"Service": "sns.amazonaws.com"}


def test_subscriptions_are_raw_and_match_the_declaration(aws: AwsClients, stack: ProvisionedStack) -> None:
    """Every topic→queue subscription is raw delivery, and there are no others."""
    arns = {
        name: aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for name, url in stack.queue_urls.items()
    }
    wanted = {(topic, arns[q.name]) for q in TOPOLOGY.queues for topic in q.topics}
    found = set()
    for topic, topic_arn in stack.topic_arns.items():
        for sub in aws.sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]:
            found.add((topic, sub["Endpoint"]))
            attributes = aws.sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
            assert attributes["RawMessageDelivery"] == "true"
    assert found == wanted


def test_tables_and_buckets_exist(aws: AwsClients, stack: ProvisionedStack, names: StackNames) -> None:
    """Declared tables exist with their TTL attribute enabled; declared buckets exist."""
    ttl = aws.dynamodb.describe_time_to_live(TableName=names.physical("idempotency"))["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiry"
    buckets = {b["Name"] for b in aws.s3.list_buckets()["Buckets"]}
    assert buckets == {names.physical(b.name) for b in TOPOLOGY.buckets}


def test_upload_reaches_only_the_ingest_queue(aws: AwsClients, stack: ProvisionedStack, names: StackNames) -> None:
    """An object put in the uploads bucket arrives (S3→SNS→SQS) in ingest's queue and nowhere else."""
    _receive_all(aws, stack.queue_urls["ingest"])  # the s3:TestEvent of the new notification
    aws.s3.put_object(Bucket=names.physical("uploads"), Key="clips/a.mp4", Body=b"x")
    bodies = eventually(lambda: _receive_all(aws, stack.queue_urls["ingest"]))
    assert len(bodies) == 1
    assert json.loads(bodies[0])["Records"][0]["eventName"].startswith("ObjectCreated")
    for name, url in stack.queue_urls.items():
        if name != "ingest":
            assert _receive_all(aws, url) == []


def test_rerun_is_idempotent(aws: AwsClients, stack: ProvisionedStack, names: StackNames) -> None:
    """A second provisioning returns the same resources, adds no subscription and sends no new test event."""
    _receive_all(aws, stack.queue_urls["ingest"])
    again = provision(aws, names)
    assert again.queue_urls == stack.queue_urls
    assert again.topic_arns == stack.topic_arns
    for topic_arn in stack.topic_arns.values():
        endpoints = [s["Endpoint"] for s in aws.sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]]
        assert len(endpoints) == len(set(endpoints))
    assert _receive_all(aws, stack.queue_urls["ingest"]) == []


def test_rerun_converges_a_queue_created_with_other_attributes(aws: AwsClients, names: StackNames) -> None:
    """A queue left by an older declaration (other visibility timeout) is updated, not an error."""
    url = aws.sqs.create_queue(QueueName=names.physical("selector"), Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    provision(aws, names)
    attributes = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"])
    assert attributes["Attributes"]["VisibilityTimeout"] == str(TOPOLOGY.queue_for("selector").visibility_timeout_s)
    assert "RedrivePolicy" in attributes["Attributes"]


def test_an_image_without_the_cli_provisions_with_python_m(
    aws: AwsClients, local_env: dict[str, str], names: StackNames
) -> None:
    """`python -m labelloop.provision` (what docker compose runs in a service image) creates the stack named
    by LABELLOOP_PROVISION_STACK and exits 0; an endpoint that does not answer is exit 69, bad settings 78."""
    env = local_env | {"LABELLOOP_PROVISION_STACK": names.stack}
    done = subprocess.run([sys.executable, "-m", "labelloop.provision"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == ExitCode.OK, done.stderr
    for queue in TOPOLOGY.queues:
        aws.sqs.get_queue_url(QueueName=names.physical(queue.name))
    nowhere = env | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_MAX_ATTEMPTS": "1"}
    down = subprocess.run([sys.executable, "-m", "labelloop.provision"], env=nowhere, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert down.returncode == ExitCode.UNAVAILABLE, down.stderr
    invalid = env | {"LABELLOOP_PROVISION_STACK": "Not A Stack"}
    bad = subprocess.run([sys.executable, "-m", "labelloop.provision"], env=invalid, capture_output=True, text=True,
                         timeout=60, check=False)  # fmt: skip
    assert bad.returncode == ExitCode.CONFIG
