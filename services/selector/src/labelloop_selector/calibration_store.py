"""Audits and calibrations in the selector's DynamoDB table, per set of model versions.

* ``audit#<frame key>#<modality>``: one audited frame's outcome per measure, with its score and
  model versions in the sparse ``audits`` index (versions, score), so a calibration reads a
  version's audits best score first. Writing it again writes the same item: recording is idempotent.
* ``calibration#<versions>``: the threshold in force, the estimates behind it, a ``revision``
  bumped by each change (a conditional write, so two workers never both move it) and the revision
  last ``announced`` as a ThresholdChanged event: the event goes out after the change is stored and
  until it is marked announced, so a crash between the two repeats it (same event id), never loses it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labelloop.aws import conditionally
from labelloop.clock import Clock, SystemClock
from labelloop.model_set import ModelName

from labelloop_selector.calibration import Audit, Estimate

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb import DynamoDBClient

AUDIT_INDEX = "audits"
AUDIT_RETENTION_S = 365 * 24 * 3600  # evidence outlives the decisions (30 days): a version may serve for months


@dataclass(frozen=True)
class Calibration:
    """What is stored for one set of model versions (a default one before anything is)."""

    versions: str
    threshold: float | None = None
    previous: float | None = None
    revision: int = 0
    announced: int = 0
    estimates: list[Estimate] = field(default_factory=list)
    model_versions: dict[ModelName, str] = field(default_factory=dict)
    updated_at: float | None = None


class CalibrationStore:
    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        *,
        fixed_threshold: float | None,
        refresh_s: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        """``fixed_threshold``: the threshold in force when no target is stated (None: targets decide)."""
        self._db = dynamodb
        self._table = table
        self._fixed = fixed_threshold
        self._refresh_s = refresh_s
        self._clock = clock or SystemClock()
        self._cache: dict[str, tuple[float, float | None]] = {}  # versions -> (read at, threshold)

    def threshold(self, versions: str) -> float | None:
        """The threshold frames judged by ``versions`` meet to be auto-accepted; None: none proven."""
        if self._fixed is not None:
            return self._fixed
        now = time.monotonic()
        cached = self._cache.get(versions)
        if cached is None or now - cached[0] >= self._refresh_s:
            cached = self._cache[versions] = (now, self.calibration(versions).threshold)
        return cached[1]

    def record_audit(
        self, frame_key: str, modality: str, versions: str, score: float, values: Mapping[str, float]
    ) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"audit#{frame_key}#{modality}"},
                "audit_versions": {"S": versions},
                "audit_score": {"N": repr(score)},
                "values": {"M": {measure: {"N": repr(value)} for measure, value in values.items()}},
                "expiry": {"N": str(int(self._clock.now()) + AUDIT_RETENTION_S)},
            },
        )

    def audits(self, versions: str) -> dict[str, list[Audit]]:
        """Every audit of ``versions``, per measure."""
        found: dict[str, list[Audit]] = {}
        pages = self._db.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=AUDIT_INDEX,
            KeyConditionExpression="audit_versions = :versions",
            ExpressionAttributeValues={":versions": {"S": versions}},
        )
        for page in pages:
            for item in page["Items"]:
                score = float(item["audit_score"]["N"])
                for measure, value in item["values"]["M"].items():
                    found.setdefault(measure, []).append(Audit(score, float(value["N"])))
        return found

    def calibration(self, versions: str) -> Calibration:
        item = self._db.get_item(
            TableName=self._table, Key={"pk": {"S": f"calibration#{versions}"}}, ConsistentRead=True
        ).get("Item")
        return _calibration_from(versions, item) if item else Calibration(versions)

    def calibrations(self) -> list[Calibration]:
        """Every set of model versions' calibration, newest first (a scan: for people, not hot paths)."""
        found: list[Calibration] = []
        for page in self._db.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": "calibration#"}},
        ):
            found += [_calibration_from(item["pk"]["S"].removeprefix("calibration#"), item) for item in page["Items"]]
        return sorted(found, key=lambda c: -(c.updated_at or 0.0))

    def save(self, stored: Calibration, threshold: float | None, estimates: list[Estimate],
             model_versions: Mapping[ModelName, str]) -> Calibration | None:  # fmt: skip
        """Store ``estimates`` and ``threshold`` over ``stored`` (a new revision when the threshold
        changed); None when another worker stored a change since ``stored`` was read."""
        changed = threshold != stored.threshold
        revision = stored.revision + 1 if changed else stored.revision
        saved = Calibration(
            versions=stored.versions,
            threshold=threshold,
            previous=stored.threshold if changed else stored.previous,
            revision=revision,
            announced=stored.announced,
            estimates=estimates,
            model_versions=dict(model_versions),
            updated_at=self._clock.now(),
        )
        document = {
            "threshold": saved.threshold,
            "previous": saved.previous,
            "estimates": [estimate.as_dict() for estimate in estimates],
            "model_versions": saved.model_versions,
        }
        values: dict[str, Any] = {
            ":document": {"S": json.dumps(document)},
            ":revision": {"N": str(revision)},
            ":read": {"N": str(stored.revision)},
            ":now": {"N": repr(saved.updated_at)},
        }
        update: Any = {
            "TableName": self._table,
            "Key": {"pk": {"S": f"calibration#{stored.versions}"}},
            "UpdateExpression": "SET #document = :document, revision = :revision, updated_at = :now",
            "ConditionExpression": "attribute_not_exists(revision) OR revision = :read",
            "ExpressionAttributeNames": {"#document": "document"},
            "ExpressionAttributeValues": values,
        }
        if not conditionally(lambda: self._db.update_item(**update)):
            return None
        self._cache.pop(stored.versions, None)
        return saved

    def mark_announced(self, versions: str, revision: int) -> None:
        """The ThresholdChanged of ``revision`` went out (a later revision's mark is never undone)."""
        conditionally(
            lambda: self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"calibration#{versions}"}},
                UpdateExpression="SET announced = :revision",
                ConditionExpression="attribute_not_exists(announced) OR announced < :revision",
                ExpressionAttributeValues={":revision": {"N": str(revision)}},
            )
        )


def _calibration_from(versions: str, item: dict[str, Any]) -> Calibration:
    document = json.loads(item["document"]["S"]) if "document" in item else {}
    return Calibration(
        versions=versions,
        threshold=document.get("threshold"),
        previous=document.get("previous"),
        revision=int(item.get("revision", {}).get("N", "0")),
        announced=int(item.get("announced", {}).get("N", "0")),
        estimates=[Estimate(**estimate) for estimate in document.get("estimates", [])],
        model_versions=document.get("model_versions", {}),
        updated_at=float(item["updated_at"]["N"]) if "updated_at" in item else None,
    )
