"""The model registry (S3 + DynamoDB), the label counter and the training lock.

Table ``models`` (key ``pk``):

* ``labels`` → ``count``: human labels since the last training started (atomic ADD), and
  ``last_at``: when the newest arrived (the trainer waits for a burst to settle);
* ``lock`` → ``owner``, ``expires``: one training at a time; a crashed trainer's lock expires;
* ``version#<n>`` → a model set (:class:`labelloop.model_set.ModelSet`: its rig, input size and
  which Triton version serves each slot): ``status`` (``promoted`` | ``rejected``), ``metrics``
  (empty until the set has been measured on the holdout), ``data_hash``, ``parent``, ``created_at``;
* ``serving`` → ``version``: what Triton serves.

Files: ``s3://<models>/registry/<n>/<model>.pt|.onnx`` and ``metrics.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labelloop.aws import conditionally
from labelloop.model_set import ModelSet

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


METRICS = ("person_map50", "pose_map50", "head_map50", "visibility_accuracy")
"""The holdout metrics every version records (and a candidate must not be worse at)."""


@dataclass(frozen=True)
class VersionRecord:
    version: int
    status: str
    metrics: dict[str, float]
    data_hash: str
    parent: int | None
    created_at: float
    labels: int
    model_set: dict[str, Any] | None = None
    """The set's declaration (:meth:`ModelSet.model_dump` in JSON mode); None in records older than rigs."""

    def declared_set(self) -> ModelSet | None:
        return ModelSet.model_validate(self.model_set) if self.model_set is not None else None


class Registry:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    # -- counting and locking -----------------------------------------------------------------

    def add_labels(self, count: int, *, arrived_at: float | None = None) -> int:
        """Add to the label counter (stamping when labels ``arrived_at``, if given); returns the new total."""
        stamp = arrived_at is not None
        result = self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": "labels"}},
            UpdateExpression="ADD #c :n SET last_at = :t" if stamp else "ADD #c :n",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":n": {"N": str(count)}, **({":t": {"N": repr(arrived_at)}} if stamp else {})},
            ReturnValues="UPDATED_NEW",
        )
        return int(result["Attributes"]["count"]["N"])

    def label_state(self) -> tuple[int, float]:
        """(human labels counted since the last finished training, when the newest arrived; 0 if never)."""
        item = self._db.get_item(TableName=self._table, Key={"pk": {"S": "labels"}}, ConsistentRead=True).get("Item")
        if not item:
            return 0, 0.0
        return int(item["count"]["N"]), float(item.get("last_at", {"N": "0"})["N"])

    def labels(self) -> int:
        """Human labels counted since the last finished training."""
        return self.label_state()[0]

    def labels_counted(self) -> int:
        """Every human label ever counted: those consumed by finished trainings plus those waiting."""
        return sum(v.labels for v in self.versions() if v.parent is not None) + self.labels()

    def training_owner(self, now: float | None = None) -> str | None:
        """Who holds an unexpired training lock, if anyone."""
        now = time.time() if now is None else now
        item = self._db.get_item(TableName=self._table, Key={"pk": {"S": "lock"}}, ConsistentRead=True).get("Item")
        return item["owner"]["S"] if item and float(item["expires"]["N"]) >= now else None

    def acquire(self, owner: str, ttl_s: float, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return conditionally(
            lambda: self._db.put_item(
                TableName=self._table,
                Item={"pk": {"S": "lock"}, "owner": {"S": owner}, "expires": {"N": repr(now + ttl_s)}},
                ConditionExpression="attribute_not_exists(pk) OR expires < :now",
                ExpressionAttributeValues={":now": {"N": repr(now)}},
            )
        )

    def release(self, owner: str) -> None:
        # False: someone took over an expired lock, which is theirs now.
        conditionally(
            lambda: self._db.delete_item(
                TableName=self._table,
                Key={"pk": {"S": "lock"}},
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        )

    # -- versions -----------------------------------------------------------------------------

    def record(self, record: VersionRecord) -> None:
        """Register a version once (a retried training cannot register it twice)."""
        conditionally(
            lambda: self._db.put_item(
                TableName=self._table,
                Item={"pk": {"S": f"version#{record.version}"}, "record": {"S": json.dumps(record.__dict__)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        )

    def versions(self) -> list[VersionRecord]:
        found: list[VersionRecord] = []
        pages = self._db.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="begins_with(pk, :v)",
            ExpressionAttributeValues={":v": {"S": "version#"}},
        )
        for page in pages:
            found += [VersionRecord(**json.loads(item["record"]["S"])) for item in page["Items"]]
        return sorted(found, key=lambda r: r.version)

    def serving(self) -> int | None:
        item = self._db.get_item(TableName=self._table, Key={"pk": {"S": "serving"}}, ConsistentRead=True).get("Item")
        return int(item["version"]["N"]) if item else None

    def set_serving(self, version: int) -> None:
        self._db.put_item(TableName=self._table, Item={"pk": {"S": "serving"}, "version": {"N": str(version)}})

    def metrics_of(self, version: int) -> dict[str, Any] | None:
        record = self.version(version)
        return record.metrics if record is not None else None

    def version(self, version: int) -> VersionRecord | None:
        item = self._db.get_item(
            TableName=self._table, Key={"pk": {"S": f"version#{version}"}}, ConsistentRead=True
        ).get("Item")
        return VersionRecord(**json.loads(item["record"]["S"])) if item else None

    def serving_set(self) -> tuple[int, ModelSet] | None:
        """The serving version and its set, or None before any set is installed."""
        version = self.serving()
        record = self.version(version) if version is not None else None
        declared = record.declared_set() if record is not None else None
        return (version, declared) if version is not None and declared is not None else None

    def set_metrics(self, version: int, metrics: dict[str, float]) -> None:
        """Record the holdout metrics of a set installed before it could be measured."""
        record = self.version(version)
        if record is None:
            raise KeyError(f"no model set version {version}")
        updated = VersionRecord(**{**record.__dict__, "metrics": metrics})
        self._db.put_item(
            TableName=self._table,
            Item={"pk": {"S": f"version#{version}"}, "record": {"S": json.dumps(updated.__dict__)}},
        )

    def next_version(self) -> int:
        return max((r.version for r in self.versions()), default=0) + 1
