"""gt-bridge's state in DynamoDB: the active job per modality and level, and every data object.

Every change is one conditional write, so two workers (or a retry racing the sweeper) can never
both resend, both bump a generation or both complete an object.

Items (table ``labeling``, key ``pk``):

* ``job#<spec key>`` → ``job_name``, ``incarnation``, ``input_topic``, ``output_topic``,
  ``replacements`` (incarnations in a row that never reached InProgress), ``replace_after``
  (no new incarnation before this clock time), ``failure`` (why replacing was given up; empty
  while the job is alive or being replaced);
* ``obj#<frame uri>#<modality>#l<level>`` → ``job_key``, ``generation``, ``status``
  (``sent`` | ``completed`` | ``failed``), ``sent_at`` (0 until the first publish succeeded),
  ``line`` (the input line, JSON), ``resends``, ``expiries``, ``failures`` (tasks that ended in
  another error: rejected, a worker's error), ``failure`` (why a failed object was given up),
  ``pending_since`` (= ``sent_at`` while the object waits for a label, absent once it is labelled or
  failed: the sparse index ``pending`` the sweep queries per job instead of scanning the table).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labelloop.aws import conditionally

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


PENDING_INDEX = "pending"
"""The sparse index of objects waiting for a label (``labelloop.topology``'s labeling table)."""


def object_key(frame_uri: str, modality: str, level: int) -> str:
    return f"obj#{frame_uri}#{modality}#l{level}"


@dataclass(frozen=True)
class ObjectItem:
    key: str
    job_key: str
    generation: int
    status: str
    sent_at: float
    line: dict[str, Any]
    resends: int
    expiries: int
    failures: int = 0
    failure: str = ""


@dataclass(frozen=True)
class JobItem:
    spec_key: str
    job_name: str
    incarnation: int
    input_topic: str
    output_topic: str
    replacements: int = 0
    replace_after: float = 0.0
    failure: str = ""


class LabelingState:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._db = dynamodb
        self._table = table

    # -- jobs ---------------------------------------------------------------------------------

    def job(self, spec_key: str) -> JobItem | None:
        item = self._db.get_item(TableName=self._table, Key={"pk": {"S": f"job#{spec_key}"}}, ConsistentRead=True)
        found = item.get("Item")
        if not found:
            return None
        return JobItem(
            spec_key=spec_key,
            job_name=found["job_name"]["S"],
            incarnation=int(found["incarnation"]["N"]),
            input_topic=found["input_topic"]["S"],
            output_topic=found["output_topic"]["S"],
            replacements=int(found.get("replacements", {}).get("N", "0")),
            replace_after=float(found.get("replace_after", {}).get("N", "0")),
            failure=found.get("failure", {}).get("S", ""),
        )

    def record_job(self, job: JobItem, previous_incarnation: int | None) -> bool:
        """Store ``job`` as the active one, if nobody replaced the previous one first."""
        condition = "attribute_not_exists(pk)" if previous_incarnation is None else "incarnation = :previous"
        values = {} if previous_incarnation is None else {":previous": {"N": str(previous_incarnation)}}
        return conditionally(
            lambda: self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": f"job#{job.spec_key}"},
                    "job_name": {"S": job.job_name},
                    "incarnation": {"N": str(job.incarnation)},
                    "input_topic": {"S": job.input_topic},
                    "output_topic": {"S": job.output_topic},
                    "replacements": {"N": str(job.replacements)},
                    "replace_after": {"N": repr(job.replace_after)},
                    "failure": {"S": job.failure},
                },
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),  # type: ignore[arg-type]
            )
        )

    def update_job(self, spec_key: str, incarnation: int, *, replacements: int, failure: str = "") -> bool:
        """Set the job's replacement count and failure, if it is still ``incarnation``."""
        return conditionally(
            lambda: self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"job#{spec_key}"}},
                UpdateExpression="SET replacements = :replacements, failure = :failure",
                ConditionExpression="incarnation = :incarnation",
                ExpressionAttributeValues={
                    ":replacements": {"N": str(replacements)},
                    ":failure": {"S": failure},
                    ":incarnation": {"N": str(incarnation)},
                },
            )
        )

    def clear_failure(self, spec_key: str) -> bool:
        """An operator's retry of a failed job: the next sweep replaces it afresh. False if it was not failed."""
        current = self.job(spec_key)
        if current is None or not current.failure:
            return False
        return self.update_job(spec_key, current.incarnation, replacements=0)

    # -- objects ------------------------------------------------------------------------------

    def register(self, key: str, job_key: str, line: dict[str, Any]) -> ObjectItem | None:
        """Create the object at generation 0, not yet sent, and return it; None if it already existed
        (then only a consistent read says what it is now)."""
        item = {
            "pk": {"S": key},
            "job_key": {"S": job_key},
            "generation": {"N": "0"},
            "status": {"S": "sent"},
            "sent_at": {"N": "0"},
            "line": {"S": json.dumps(line)},
            "resends": {"N": "0"},
            "expiries": {"N": "0"},
            "pending_since": {"N": "0"},
        }
        created = conditionally(
            lambda: self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        )
        return _object(item) if created else None

    def get(self, key: str) -> ObjectItem | None:
        found = self._db.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return _object(found) if found else None

    def mark_sent(self, key: str, generation: int, previous_sent_at: float, now: float, *, resend: bool) -> bool:
        """Record a (re)send of ``generation``; False if someone else recorded one first."""
        return conditionally(
            lambda: self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET sent_at = :now, pending_since = :now ADD resends :inc",
                ConditionExpression="generation = :g AND sent_at = :previous AND #s = :sent",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":now": {"N": repr(now)},
                    ":inc": {"N": "1" if resend else "0"},
                    ":g": {"N": str(generation)},
                    ":previous": {"N": repr(previous_sent_at)},
                    ":sent": {"S": "sent"},
                },
            )
        )

    def next_generation(
        self, key: str, expired_generation: int, line: dict[str, Any], *, counter: str = "expiries"
    ) -> bool:
        """After an expiry (or a failure, ``counter="failures"``): the object's next generation (new
        dedup id), not yet sent."""
        return conditionally(
            lambda: self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression=(
                    f"SET generation = :next, sent_at = :zero, pending_since = :zero, line = :line ADD {counter} :one"
                ),
                ConditionExpression="generation = :g AND #s = :sent",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":next": {"N": str(expired_generation + 1)},
                    ":zero": {"N": "0"},
                    ":line": {"S": json.dumps(line)},
                    ":one": {"N": "1"},
                    ":g": {"N": str(expired_generation)},
                    ":sent": {"S": "sent"},
                },
            )
        )

    def give_up(self, key: str, generation: int, reason: str) -> bool:
        """Mark the object failed with ``reason`` (its tasks kept failing); False if it moved on meanwhile."""
        return conditionally(
            lambda: self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET #s = :failed, failure = :reason REMOVE pending_since",
                ConditionExpression="generation = :g AND #s = :sent",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":failed": {"S": "failed"},
                    ":reason": {"S": reason},
                    ":g": {"N": str(generation)},
                    ":sent": {"S": "sent"},
                },
            )
        )

    def complete(self, key: str, generation: int) -> bool:
        return conditionally(
            lambda: self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET #s = :done REMOVE pending_since",
                ConditionExpression="generation = :g AND #s = :sent",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":done": {"S": "completed"},
                    ":g": {"N": str(generation)},
                    ":sent": {"S": "sent"},
                },
            )
        )

    def objects(self) -> list[ObjectItem]:
        """Every object: a scan, for reports (``labelloop jobs``), never for a hot path."""
        args: dict[str, Any] = {"TableName": self._table, "FilterExpression": "begins_with(pk, :obj)",
                                "ExpressionAttributeValues": {":obj": {"S": "obj#"}}}  # fmt: skip
        found: list[ObjectItem] = []
        for page in self._db.get_paginator("scan").paginate(**args):
            found += [_object(item) for item in page["Items"]]
        return found

    def due(self, job_key: str, *, sent_before: float) -> list[ObjectItem]:
        """The job's unlabelled objects last sent before ``sent_before`` (never sent: 0), from the
        ``pending`` index: the sweep's cost follows what waits, not the table's size."""
        found: list[ObjectItem] = []
        for page in self._db.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=PENDING_INDEX,
            KeyConditionExpression="job_key = :job AND pending_since < :due",
            ExpressionAttributeValues={":job": {"S": job_key}, ":due": {"N": repr(sent_before)}},
        ):
            # The index is eventually consistent: a just-labelled object may still be listed; the
            # conditional writes of a resend (status = sent, same sent_at) make that harmless.
            found += [_object(item) for item in page["Items"] if item["status"]["S"] == "sent"]
        return found


def _object(item: dict[str, Any]) -> ObjectItem:
    return ObjectItem(
        key=item["pk"]["S"],
        job_key=item["job_key"]["S"],
        generation=int(item["generation"]["N"]),
        status=item["status"]["S"],
        sent_at=float(item["sent_at"]["N"]),
        line=json.loads(item["line"]["S"]),
        resends=int(item["resends"]["N"]),
        expiries=int(item["expiries"]["N"]),
        failures=int(item.get("failures", {}).get("N", "0")),
        failure=item.get("failure", {}).get("S", ""),
    )
