"""DynamoDB-backed idempotency: each event id is handled once, whatever SQS redelivers.

Like Powertools' ``idempotency/persistence/dynamodb.py::_put_record``: ONE conditional PutItem
claims the id (no read-then-write race between workers). A record is ``INPROGRESS`` while a
handler runs, with a short lease so a crashed worker does not block the event forever, and
``COMPLETED`` afterwards until ``expiry`` (DynamoDB TTL removes it later).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from labelloop.aws import conditional_write, conditionally
from labelloop.clock import Clock, SystemClock
from labelloop.errors import AlreadyInProgressError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class Claim(StrEnum):
    """Result of trying to claim an event id."""

    NEW = "new"
    """This worker owns the id now: run the handler, then :meth:`IdempotencyStore.complete`."""
    ALREADY_COMPLETED = "already_completed"
    """The id was handled before: acknowledge the message without running the handler."""


@dataclass
class IdempotencyStore:
    """Claims, completes and releases event ids in one DynamoDB table.

    ``lease_s`` bounds how long an INPROGRESS claim blocks others. A live handler's lease is
    renewed by the worker's heartbeat (with its message's visibility), so it can stay short:
    after a crash (SIGKILL, OOM) the event is free again within ``lease_s``, about when SQS
    redelivers the message. It was 15 minutes, unrenewed, and the chaos suite's killed ingest
    left its clip blocked that long.
    """

    dynamodb: DynamoDBClient
    table: str
    ttl_s: int = 7 * 24 * 3600
    lease_s: int = 120
    clock: Clock = field(default_factory=SystemClock)

    def claim(self, key: str) -> Claim:
        """Claim ``key`` for this worker, or tell that it is done; raise if someone else holds it."""
        now = int(self.clock.now())
        written = conditional_write(
            lambda: self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "id": {"S": key},
                    "status": {"S": "INPROGRESS"},
                    "expiry": {"N": str(now + self.ttl_s)},
                    "lease_expiry": {"N": str(now + self.lease_s)},
                },
                # Free if never seen, if its TTL passed (TTL deletion lags by up to days), or if the
                # worker holding it died (lease passed). Never steal a live lease or a completion.
                ConditionExpression=(
                    "attribute_not_exists(id) OR expiry < :now OR (#s = :inprogress AND lease_expiry < :now)"
                ),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":inprogress": {"S": "INPROGRESS"}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        )
        if not written.applied:
            old: Mapping[str, Any] = written.blocking_item or self._get(key) or {}  # ALL_OLD: what blocked us
            if old.get("status", {}).get("S") == "COMPLETED":
                return Claim.ALREADY_COMPLETED
            raise AlreadyInProgressError(f"event {key} is being handled by another worker")
        return Claim.NEW

    def renew(self, key: str) -> None:
        """Extend a live INPROGRESS claim by ``lease_s`` from now (no-op if it was completed or released)."""
        conditionally(
            lambda: self.dynamodb.update_item(
                TableName=self.table,
                Key={"id": {"S": key}},
                UpdateExpression="SET lease_expiry = :lease",
                ConditionExpression="#s = :inprogress",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":lease": {"N": str(int(self.clock.now()) + self.lease_s)},
                    ":inprogress": {"S": "INPROGRESS"},
                },
            )
        )

    def complete(self, key: str) -> None:
        """Mark ``key`` handled; later deliveries are acknowledged without running the handler."""
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"id": {"S": key}},
            UpdateExpression="SET #s = :completed REMOVE lease_expiry",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":completed": {"S": "COMPLETED"}},
        )

    def release(self, key: str) -> None:
        """Forget an INPROGRESS claim after a failed handler, so the retry can claim it at once."""
        conditionally(
            lambda: self.dynamodb.delete_item(
                TableName=self.table,
                Key={"id": {"S": key}},
                ConditionExpression="#s = :inprogress",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":inprogress": {"S": "INPROGRESS"}},
            )
        )

    def _get(self, key: str) -> Mapping[str, Any] | None:
        return self.dynamodb.get_item(TableName=self.table, Key={"id": {"S": key}}, ConsistentRead=True).get("Item")
