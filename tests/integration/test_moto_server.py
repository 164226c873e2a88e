"""The launcher's moto server (``labelloop_tools.local.moto_main``): every service it emulates for
us still answers, without a log line per request."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import urllib3.util.connection
from botocore.exceptions import ClientError
from labelloop.aws import conditionally
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


def test_it_keeps_connections_alive_and_a_body_it_does_not_read_cannot_become_the_next_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real AWS keeps a client's connections open, so do we: one connection for many calls. A
    request whose body moto never reads must not leave it to be parsed as the next request."""
    opened: list[object] = []
    real_create_connection = urllib3.util.connection.create_connection

    def create_connection(*args: Any, **kwargs: Any) -> Any:
        opened.append(args[0])
        return real_create_connection(*args, **kwargs)

    with MotoServer() as moto:
        aws = local_clients(moto.url)
        aws.dynamodb.list_tables()  # the pool's first connection
        monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
        for _ in range(20):
            aws.dynamodb.list_tables()
        assert not opened, f"{len(opened)} connections opened for 20 calls"
        host, port = moto.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/moto-api/data.json", body=b"GET /moto-api/reset HTTP/1.1\r\n\r\n" * 50)
        first = connection.getresponse()
        assert (first.status, first.will_close) == (200, False)
        first.read()
        connection.request("GET", "/moto-api/data.json")  # the same connection, answered as itself
        second = connection.getresponse()
        assert second.status == 200, "the second request on the connection"
        assert json.loads(second.read())
        connection.close()


def test_dynamodb_requests_are_atomic_under_concurrency() -> None:
    """DynamoDB applies each request to an item atomically, and our counters and conditional writes
    rely on it; moto's server runs requests on threads without a lock. Concurrent increments of one
    counter all count, and of concurrent conditional puts of one item exactly one wins."""
    threads, per_thread = 8, 40
    with MotoServer() as moto:
        aws = local_clients(moto.url)
        aws.dynamodb.create_table(TableName="d", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                  BillingMode="PAY_PER_REQUEST")  # fmt: skip

        # A large item takes moto longer to update, which widens the window for a lost increment.
        aws.dynamodb.put_item(TableName="d", Item={"pk": {"S": "counter"}, "n": {"N": "0"},
                                                   "padding": {"L": [{"N": str(i)} for i in range(2000)]}})  # fmt: skip

        def increment(_: int) -> None:
            for _ in range(per_thread):
                aws.dynamodb.update_item(TableName="d", Key={"pk": {"S": "counter"}}, UpdateExpression="ADD n :one",
                                         ExpressionAttributeValues={":one": {"N": "1"}})  # fmt: skip

        def claim(attempt: int) -> bool:
            item = {"pk": {"S": f"claim-{attempt // threads}"}}  # each item claimed by `threads` threads
            return conditionally(
                lambda: aws.dynamodb.put_item(TableName="d", Item=item, ConditionExpression="attribute_not_exists(pk)")
            )

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(increment, range(threads)))
            won = list(pool.map(claim, range(threads * 20)))
        item = aws.dynamodb.get_item(TableName="d", Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]
        assert int(item["n"]["N"]) == threads * per_thread, "increments lost"
        assert sum(won) == 20, f"{sum(won)} conditional puts won for 20 items"
