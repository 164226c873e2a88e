"""AwsClients' endpoint precedence: the AWS SDKs' service-specific variable wins over the global one."""

from __future__ import annotations

import pytest
from labelloop import AwsClients


def test_a_service_specific_endpoint_variable_wins_over_the_stack_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """LocalStack for S3/SNS/SQS with DynamoDB Local beside it: AWS_ENDPOINT_URL_DYNAMODB is honoured."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    clients = AwsClients(endpoint_url="http://127.0.0.1:4566", region="us-east-1", credentials=("x", "x"))
    assert clients.dynamodb.meta.endpoint_url == "http://127.0.0.1:8000"
    assert clients.s3.meta.endpoint_url == "http://127.0.0.1:4566"
    assert clients.sqs.meta.endpoint_url == "http://127.0.0.1:4566"


def test_without_overrides_every_client_uses_the_stack_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    clients = AwsClients(endpoint_url="http://127.0.0.1:4566", region="us-east-1", credentials=("x", "x"))
    assert {clients.dynamodb.meta.endpoint_url, clients.sns.meta.endpoint_url} == {"http://127.0.0.1:4566"}
