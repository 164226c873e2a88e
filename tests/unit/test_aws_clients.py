"""AwsClients' endpoint precedence, and what counts as a conditional write that did not apply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from labelloop import AwsClients
from labelloop.aws import conditionally


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


def _raising(code: str, reasons: list[str] | None = None) -> Callable[[], object]:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "x"}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": reason} for reason in reasons]

    def write() -> object:
        raise ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]

    return write


def test_a_conditional_write_or_transaction_that_lost_its_condition_did_not_apply_and_anything_else_raises() -> None:
    assert conditionally(lambda: None)
    assert not conditionally(_raising("ConditionalCheckFailedException"))
    assert not conditionally(_raising("TransactionCanceledException", ["ConditionalCheckFailed", "None"]))
    for code, reasons in (("TransactionCanceledException", ["ThrottlingError", "None"]),
                          ("ProvisionedThroughputExceededException", None)):  # fmt: skip
        with pytest.raises(ClientError):
            conditionally(_raising(code, reasons))
