"""One factory for boto3 clients, honouring an endpoint override (moto, LocalStack, real AWS)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sts import STSClient


@dataclass
class AwsClients:
    """Lazily created clients sharing one boto3 session and retry policy.

    ``endpoint_url=None`` lets boto3 use ``AWS_ENDPOINT_URL`` or the real AWS endpoints. A
    service-specific ``AWS_ENDPOINT_URL_<SERVICE>`` (``AWS_ENDPOINT_URL_DYNAMODB``) wins over both,
    as in every AWS SDK: e.g. LocalStack for S3/SNS/SQS with DynamoDB Local beside it.
    Clients are created on first use and are thread-safe, so one instance serves all workers.
    """

    endpoint_url: str | None = None
    region: str | None = None
    max_pool_connections: int = 32
    credentials: tuple[str, str] | None = None
    """(access key id, secret) to use instead of boto3's credential chain (the local emulator's dummies)."""
    _session: boto3.session.Session = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Local stacks rarely set a region; us-east-1 is what moto and LocalStack default to.
        configured: str | None = self.region or boto3.session.Session().region_name
        access_key, secret = self.credentials or (None, None)
        self._session = boto3.session.Session(
            region_name=configured or "us-east-1", aws_access_key_id=access_key, aws_secret_access_key=secret
        )

    @property
    def region_name(self) -> str:
        return str(self._session.region_name)

    def _config(self) -> Config:
        return Config(
            retries={"mode": "standard", "max_attempts": 5},
            max_pool_connections=self.max_pool_connections,
            # Long polls hold the connection up to 20 s; the default 60 s read timeout covers it.
            connect_timeout=5,
        )

    def _endpoint(self, service: str) -> str | None:
        # An explicit endpoint_url would hide boto3's own service-specific variable, so honour it here.
        return os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or self.endpoint_url

    @cached_property
    def sqs(self) -> SQSClient:
        return self._session.client("sqs", endpoint_url=self._endpoint("sqs"), config=self._config())

    @cached_property
    def sns(self) -> SNSClient:
        return self._session.client("sns", endpoint_url=self._endpoint("sns"), config=self._config())

    @cached_property
    def s3(self) -> S3Client:
        return self._session.client("s3", endpoint_url=self._endpoint("s3"), config=self._config())

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return self._session.client("dynamodb", endpoint_url=self._endpoint("dynamodb"), config=self._config())

    @cached_property
    def cloudwatch(self) -> CloudWatchClient:
        """Metrics that alarm (a labeling job given up on)."""
        return self._session.client("cloudwatch", endpoint_url=self._endpoint("cloudwatch"), config=self._config())

    @cached_property
    def sagemaker(self) -> SageMakerClient:
        """Ground Truth's API (no emulator has it; used only by gt-bridge's ground-truth backend)."""
        return self._session.client("sagemaker", endpoint_url=self._endpoint("sagemaker"), config=self._config())

    @cached_property
    def sts(self) -> STSClient:
        return self._session.client("sts", endpoint_url=self._endpoint("sts"), config=self._config())

    @cached_property
    def account_id(self) -> str:
        """The caller's account id (needs no IAM permission), used to build topic ARNs."""
        return self.sts.get_caller_identity()["Account"]

    @cached_property
    def partition(self) -> str:
        return self._session.get_partition_for_region(self.region_name)


@dataclass(frozen=True)
class ConditionalWrite:
    """What one DynamoDB conditional write did."""

    applied: bool
    blocking_item: Mapping[str, Any] | None = None
    """The item that failed the condition, when the write asked for it (``ReturnValuesOnConditionCheckFailure``)."""


def conditional_write(write: Callable[[], object]) -> ConditionalWrite:
    """Run one DynamoDB conditional write and say whether its condition held.

    The one place that tells "someone else got there first" (an answer) from every other
    ClientError (a failure, re-raised). A transaction counts as a conditional write too: cancelled
    because one of its conditions did not hold, it did not apply.
    """
    try:
        write()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        reasons = error.response.get("CancellationReasons") or []
        if code == "ConditionalCheckFailedException" or (
            code == "TransactionCanceledException" and any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)
        ):
            blocking: Any = error.response.get("Item")
            return ConditionalWrite(applied=False, blocking_item=blocking)
        raise
    return ConditionalWrite(applied=True)


def conditionally(write: Callable[[], object]) -> bool:
    """:func:`conditional_write` where only the yes/no matters: False when its condition did not hold."""
    return conditional_write(write).applied
