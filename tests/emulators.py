"""The AWS emulator the integration suite runs on: moto (the default) or LocalStack.

``pytest --aws-backend localstack`` (``make test-localstack``) runs every test that takes the
``aws``/``stack``/``local_env`` fixtures against LocalStack instead of moto: a container started
with testcontainers (skipped cleanly when no Docker daemon answers), or one already running at
``LABELLOOP_TEST_LOCALSTACK_URL``. The two emulators differ where it matters to us: S3 event
shapes and key encoding, SNS→SQS delivery, DynamoDB condition errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from labelloop import AwsClients
from labelloop_tools.local.stack import local_clients

LOCALSTACK_IMAGE = "localstack/localstack:4.0.3"  # the image docker-compose.yml pins
LOCALSTACK_SERVICES = ("s3", "sqs", "sns", "dynamodb", "sts")  # as docker-compose.yml


class Emulator(Protocol):
    """What the fixtures need of an emulator: where it answers, and a way back to empty."""

    @property
    def url(self) -> str: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class LocalStack:
    """A LocalStack endpoint. It has no reset call (moto does), so reset deletes what exists."""

    url: str

    def reset(self) -> None:
        wipe(local_clients(self.url))


def wipe(clients: AwsClients) -> None:
    """Delete every queue, topic, bucket (with its objects and versions) and table."""
    for queue_url in clients.sqs.list_queues().get("QueueUrls", []):
        clients.sqs.delete_queue(QueueUrl=queue_url)
    for page in clients.sns.get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            clients.sns.delete_topic(TopicArn=topic["TopicArn"])
    for bucket in clients.s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        for versions in clients.s3.get_paginator("list_object_versions").paginate(Bucket=name):
            doomed = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
            ]
            if doomed:
                clients.s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})
        clients.s3.delete_bucket(Bucket=name)
    for page in clients.dynamodb.get_paginator("list_tables").paginate():
        for table in page["TableNames"]:
            clients.dynamodb.delete_table(TableName=table)


@contextlib.contextmanager
def localstack_container() -> Iterator[LocalStack]:
    """A LocalStack container for the session (needs a Docker daemon)."""
    from testcontainers.community.localstack import LocalStackContainer

    with LocalStackContainer(image=LOCALSTACK_IMAGE).with_services(*LOCALSTACK_SERVICES) as container:
        yield LocalStack(container.get_url())
