"""Selector state in DynamoDB: one decision per frame and model version, and human-task budgets.

A frame's decision and the budget counters it uses are written in ONE transaction, with
conditions: the decision only if none exists yet (so a retried or duplicated batch reuses the
first decision and never spends budget twice), each counter only while under its limit. The
clip's item also remembers the signature of the last frame sent to people, for near-duplicate
suppression across batches.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from labelloop_selector.policy import Route, Signature

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DAY_S = 24 * 3600


@dataclass(frozen=True)
class Decision:
    route: Route
    score: float
    near_duplicate_of: int | None = None


@dataclass(frozen=True)
class LastSent:
    frame_no: int
    signature: Signature


@dataclass(frozen=True)
class Budgets:
    per_clip: int = 0
    """Most frames of one clip sent to people; 0 = no limit."""
    per_hour: int = 0
    """Most frames sent to people per UTC hour, all clips together; 0 = no limit."""


class SelectorState:
    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        *,
        retention_s: int = 30 * DAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._retention_s = retention_s
        self._clock = clock

    def decision(self, frame_key: str) -> Decision | None:
        item = self._db.get_item(TableName=self._table, Key={"pk": {"S": f"frame#{frame_key}"}}, ConsistentRead=True)
        found = item.get("Item")
        if not found:
            return None
        duplicate_of = found.get("near_duplicate_of", {}).get("N")
        return Decision(
            route=found["route"]["S"],  # type: ignore[arg-type]
            score=float(found["score"]["N"]),
            near_duplicate_of=int(duplicate_of) if duplicate_of is not None else None,
        )

    def last_sent(self, clip_id: str) -> LastSent | None:
        item = self._db.get_item(TableName=self._table, Key={"pk": {"S": f"clip#{clip_id}"}}, ConsistentRead=True)
        found = item.get("Item", {})
        if "last_signature" not in found:
            return None
        rows = json.loads(found["last_signature"]["S"])
        return LastSent(int(found["last_frame_no"]["N"]), tuple(tuple(row) for row in rows))

    def human_count(self, clip_id: str) -> int:
        item = self._db.get_item(TableName=self._table, Key={"pk": {"S": f"clip#{clip_id}"}}, ConsistentRead=True)
        return int(item.get("Item", {}).get("human_count", {}).get("N", "0"))

    def record(
        self,
        frame_key: str,
        decision: Decision,
        *,
        clip_id: str,
        budgets: Budgets,
        sent: LastSent | None = None,
    ) -> Decision:
        """Store ``decision`` unless one exists; returns the decision that stands.

        Routes that send to people spend budget in the same transaction; when a budget is spent,
        ``human`` becomes ``over_budget`` and ``control`` becomes plain ``auto``.
        """
        if decision.route not in ("human", "control"):
            return self._put_decision(frame_key, decision)
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {"Put": self._decision_put(frame_key, decision)},
                    {"Update": self._spend(f"clip#{clip_id}", budgets.per_clip, sent, self._retention_s)},
                    {"Update": self._spend(self._hour_key(), budgets.per_hour, None, 2 * DAY_S)},
                ]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                existing = self.decision(frame_key)
                if existing is not None:
                    return existing
            if "ConditionalCheckFailed" not in reasons[1:]:
                raise
            fallback: Route = "over_budget" if decision.route == "human" else "auto"
            return self._put_decision(frame_key, Decision(fallback, decision.score))
        return decision

    def _hour_key(self) -> str:
        return "hour#" + time.strftime("%Y%m%d%H", time.gmtime(self._clock()))

    def _decision_put(self, frame_key: str, decision: Decision) -> Any:
        item: dict[str, Any] = {
            "pk": {"S": f"frame#{frame_key}"},
            "route": {"S": decision.route},
            "score": {"N": repr(decision.score)},
            "expiry": {"N": str(int(self._clock()) + self._retention_s)},
        }
        if decision.near_duplicate_of is not None:
            item["near_duplicate_of"] = {"N": str(decision.near_duplicate_of)}
        return {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}

    def _put_decision(self, frame_key: str, decision: Decision) -> Decision:
        try:
            self._db.put_item(**self._decision_put(frame_key, decision))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            existing = self.decision(frame_key)
            if existing is not None:
                return existing
            raise
        return decision

    def _spend(self, key: str, limit: int, sent: LastSent | None, retention_s: int) -> Any:
        values: dict[str, Any] = {":one": {"N": "1"}, ":expiry": {"N": str(int(self._clock()) + retention_s)}}
        expression = "ADD human_count :one SET expiry = :expiry"
        if sent is not None:
            expression += ", last_signature = :signature, last_frame_no = :frame_no"
            values[":signature"] = {"S": json.dumps(sent.signature)}
            values[":frame_no"] = {"N": str(sent.frame_no)}
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": key}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
        if limit > 0:
            update["ConditionExpression"] = "attribute_not_exists(human_count) OR human_count < :limit"
            values[":limit"] = {"N": str(limit)}
        return update
