"""The launcher's moto server (``labelloop_tools.local.moto_main``): every service it emulates for
us still answers, without a log line per request."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from labelloop_tools.local import MotoServer
from labelloop_tools.local.stack import local_clients


def test_it_answers_every_service_and_logs_no_request(tmp_path: Path) -> None:
    log = tmp_path / "moto.log"
    with MotoServer(log_path=log) as moto:
        aws = local_clients(moto.url)
        aws.s3.create_bucket(Bucket="bucket")
        aws.s3.put_object(Bucket="bucket", Key="k", Body=b"x")
        assert aws.s3.get_object(Bucket="bucket", Key="k")["Body"].read() == b"x"
        with pytest.raises(ClientError, match="NoSuchKey"):
            aws.s3.get_object(Bucket="bucket", Key="missing")
        queue = aws.sqs.create_queue(QueueName="q")["QueueUrl"]
        topic = aws.sns.create_topic(Name="t")["TopicArn"]
        aws.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:123456789012:q",
                          Attributes={"RawMessageDelivery": "true"})  # fmt: skip
        aws.sns.publish(TopicArn=topic, Message="hello")
        assert aws.sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"][0]["Body"] == "hello"
        aws.dynamodb.create_table(TableName="d", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                  BillingMode="PAY_PER_REQUEST")  # fmt: skip
        aws.dynamodb.put_item(TableName="d", Item={"pk": {"S": "a"}})
        assert aws.dynamodb.get_item(TableName="d", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
    written = log.read_text()
    assert '"GET /' not in written, written[-2000:]
    assert '"POST /' not in written, written[-2000:]
