"""Selector state in DynamoDB: one decision per frame and model version, and human-task budgets.

Every write that spends budget or claims a decision is conditional, in an order that keeps the
budgets safe without a transaction: first the clip's and the hour's counters are incremented, each
only while under its limit (for all of a batch's frames for people in one write when they all fit,
else frame by frame); then the decisions are claimed only if none were yet: a batch's in one item
for the batch (``batch#``), a lone frame's in its own item. A claim made earlier (a retried or
duplicated batch) wins and its counters are refunded, so budget is never spent twice for a frame;
a crash between the two steps leaves the units spent, erring towards fewer human tasks, never
more. Each frame's own item (``frame#``, read by any later batch with the frame) is written after
the claim, in bulk. (moto's TransactWriteItems deep-copies whole tables and breaks under
concurrency, which is why the transaction this could be was not used.) The clip's item also
remembers the signature of the last frame sent to people, for near-duplicate suppression across
batches.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labelloop.aws import conditional_write, conditionally
from labelloop.clock import Clock, SystemClock
from labelloop.errors import RetryableError

from labelloop_selector.policy import Route, Signature

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DAY_S = 24 * 3600
FOR_PEOPLE: tuple[Route, ...] = ("human", "control")


@dataclass(frozen=True)
class Decision:
    route: Route
    score: float
    near_duplicate_of: int | None = None
    audit: bool = False
    """People's labels of the frame will be evidence of the model's accuracy (policy.initial_route)."""


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
        clock: Clock | None = None,
    ) -> None:
        self._db = dynamodb
        self._table = table
        self._retention_s = retention_s
        self._clock = clock or SystemClock()

    def decision(self, frame_key: str) -> Decision | None:
        item = self._db.get_item(TableName=self._table, Key={"pk": {"S": f"frame#{frame_key}"}}, ConsistentRead=True)
        found = item.get("Item")
        return _decision_from(found) if found else None

    def read(self, frame_keys: list[str], clip_id: str) -> tuple[dict[str, Decision], LastSent | None]:
        """Decisions already stored for any of ``frame_keys``, and the clip's last frame sent to people:
        one BatchGetItem per 100 items, the clip's item riding with the first keys."""
        items = [f"frame#{key}" for key in frame_keys] + [f"clip#{clip_id}"]
        found: dict[str, Decision] = {}
        clip_item: dict[str, Any] = {}
        for start in range(0, len(items), 100):
            request: Any = {
                self._table: {"Keys": [{"pk": {"S": pk}} for pk in items[start : start + 100]], "ConsistentRead": True}
            }
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self._table, []):
                    if item["pk"]["S"].startswith("clip#"):
                        clip_item = item
                    else:
                        found[item["pk"]["S"].removeprefix("frame#")] = _decision_from(item)
                request = response.get("UnprocessedKeys") or None
        return found, _last_sent_from(clip_item)

    def record_decisions(self, decisions: dict[str, Decision]) -> None:
        """Store each frame's decision in its own item, in bulk (BatchWriteItem, no conditions).

        Safe without conditions: an auto decision spends no budget, and judging the same frame with
        the same model versions and settings gives it again; every other one was claimed first
        (:meth:`claim_batch`), so these are the decisions that stand.
        """
        items = [{"PutRequest": {"Item": self._decision_item(key, d)}} for key, d in decisions.items()]
        for start in range(0, len(items), 25):
            request: Any = {self._table: items[start : start + 25]}
            while request:
                request = self._db.batch_write_item(RequestItems=request).get("UnprocessedItems") or None

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
        """Store one frame's ``decision`` unless one exists; returns the decision that stands.

        Routes that send to people first spend budget; when a budget is spent, ``human`` becomes
        ``over_budget`` and ``control`` becomes plain ``auto``.
        """
        if decision.route not in FOR_PEOPLE:
            return self._put_decision(frame_key, decision)[0]
        spent = self._spend_all(clip_id, budgets, sent, count=1)
        if spent is None:  # a budget is spent
            fallback: Route = "over_budget" if decision.route == "human" else "auto"
            return self._put_decision(frame_key, Decision(fallback, decision.score))[0]
        stored, created = self._put_decision(frame_key, decision)
        if not created:
            self._refund(spent)
        return stored

    def claim_batch(
        self,
        batch_id: str,
        decisions: dict[str, Decision],
        *,
        clip_id: str,
        budgets: Budgets,
        last_sent: LastSent | None,
    ) -> dict[str, Decision] | None:
        """The new decisions of a batch in which some frames go to people, as they stand: each budget
        spent for all of those in one write, then every decision claimed for the batch in one
        conditional write. None, with nothing spent, when a budget has no room for all (the caller
        then records frame by frame, so a budget runs out exactly where it does).

        A batch claimed before (a retry after a crash between the claim and the frames' own items, or
        the same batch delivered twice at once) keeps its claimed decisions, and what this call spent
        for frames they decide is refunded. The caller then stores each frame's own item
        (:meth:`record_decisions`).
        """
        wanted = [key for key, decision in decisions.items() if decision.route in FOR_PEOPLE]
        spent = self._spend_all(clip_id, budgets, last_sent, count=len(wanted))
        if spent is None:
            return None
        pk = {"S": f"batch#{batch_id}"}
        claim = conditional_write(
            lambda: self._db.put_item(
                TableName=self._table,
                Item={"pk": pk, "decisions": {"S": _claim_json(decisions)}, "expiry": self._expiry()},
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        )
        if claim.applied:
            return decisions
        blocking = claim.blocking_item or self._db.get_item(TableName=self._table, Key={"pk": pk},
                                                            ConsistentRead=True).get("Item")  # fmt: skip
        if blocking is None:  # claimed, then expired again: let the retry decide
            raise RetryableError(f"the claim on batch {batch_id} changed while it was written")
        claimed = _claimed_from(blocking)
        if decided_before := sum(key in claimed for key in wanted):
            self._refund(spent, decided_before)
        return {key: claimed.get(key, decision) for key, decision in decisions.items()}

    def _spend_all(self, clip_id: str, budgets: Budgets, last_sent: LastSent | None, count: int) -> list[str] | None:
        """Count ``count`` more tasks on each counter, the clip's remembering ``last_sent``; the counters
        spent, or None, with nothing spent, when one has no room for all of them."""
        spent: list[str] = []
        for key, limit, retention_s in self._counters(clip_id, budgets):
            sent = last_sent if key.startswith("clip#") else None
            if not self._spend(key, limit, sent, retention_s, count=count):
                self._refund(spent, count)
                return None
            spent.append(key)
        return spent

    def _counters(self, clip_id: str, budgets: Budgets) -> list[tuple[str, int, int]]:
        """(key, limit, retention) of each counter a task for people spends."""
        counters = [(f"clip#{clip_id}", budgets.per_clip, self._retention_s)]
        if budgets.per_hour:  # no hourly limit, no hourly counter: one write less per task
            counters.append((self._hour_key(), budgets.per_hour, 2 * DAY_S))
        return counters

    def _hour_key(self) -> str:
        return "hour#" + time.strftime("%Y%m%d%H", time.gmtime(self._clock.now()))

    def _decision_put(self, frame_key: str, decision: Decision) -> Any:
        return {
            "TableName": self._table,
            "Item": self._decision_item(frame_key, decision),
            "ConditionExpression": "attribute_not_exists(pk)",
        }

    def _decision_item(self, frame_key: str, decision: Decision) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": f"frame#{frame_key}"},
            "route": {"S": decision.route},
            "score": {"N": repr(decision.score)},
            "expiry": self._expiry(),
        }
        if decision.near_duplicate_of is not None:
            item["near_duplicate_of"] = {"N": str(decision.near_duplicate_of)}
        if decision.audit:
            item["audit"] = {"BOOL": True}
        return item

    def _expiry(self) -> dict[str, str]:
        return {"N": str(int(self._clock.now()) + self._retention_s)}

    def _put_decision(self, frame_key: str, decision: Decision) -> tuple[Decision, bool]:
        """(the decision that stands, whether this call created it)."""
        if conditionally(lambda: self._db.put_item(**self._decision_put(frame_key, decision))):
            return decision, True
        existing = self.decision(frame_key)
        if existing is None:  # blocked by a decision that is gone again (expired): let the retry decide
            raise RetryableError(f"the decision on {frame_key} changed while it was written")
        return existing, False

    def _spend(self, key: str, limit: int, sent: LastSent | None, retention_s: int, count: int = 1) -> bool:
        """Count ``count`` more tasks under ``key`` unless that passes ``limit``; False when it would."""
        if 0 < limit < count:
            return False
        return conditionally(lambda: self._db.update_item(**self._spend_update(key, limit, sent, retention_s, count)))

    def _refund(self, keys: list[str], count: int = 1) -> None:
        for key in keys:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="ADD human_count :minus",
                ExpressionAttributeValues={":minus": {"N": str(-count)}},
            )

    def _spend_update(self, key: str, limit: int, sent: LastSent | None, retention_s: int, count: int) -> Any:
        values: dict[str, Any] = {
            ":count": {"N": str(count)},
            ":expiry": {"N": str(int(self._clock.now()) + retention_s)},
        }
        expression = "ADD human_count :count SET expiry = :expiry"
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
        if limit > 0:  # room for all of them: what is counted now plus count stays within the limit
            update["ConditionExpression"] = "attribute_not_exists(human_count) OR human_count <= :room"
            values[":room"] = {"N": str(limit - count)}
        return update


def _last_sent_from(clip_item: dict[str, Any]) -> LastSent | None:
    if "last_signature" not in clip_item:
        return None
    rows = json.loads(clip_item["last_signature"]["S"])
    return LastSent(int(clip_item["last_frame_no"]["N"]), tuple(tuple(row) for row in rows))


def _claim_json(decisions: dict[str, Decision]) -> str:
    return json.dumps({key: [d.route, d.score, d.near_duplicate_of, d.audit] for key, d in decisions.items()})


def _claimed_from(item: Mapping[str, Any]) -> dict[str, Decision]:
    rows = json.loads(item["decisions"]["S"])
    return {key: Decision(route, score, duplicate, audit) for key, (route, score, duplicate, audit) in rows.items()}


def _decision_from(item: dict[str, Any]) -> Decision:
    duplicate_of = item.get("near_duplicate_of", {}).get("N")
    return Decision(
        route=item["route"]["S"],
        score=float(item["score"]["N"]),
        near_duplicate_of=int(duplicate_of) if duplicate_of is not None else None,
        audit=item.get("audit", {}).get("BOOL", False),
    )
