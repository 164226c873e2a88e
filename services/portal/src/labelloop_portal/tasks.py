"""The portal's tasks, kept in DynamoDB only: no portal process holds a working set of its own, so a
restarted portal, or several portal tasks behind one load balancer, see the same tasks.

A task goes ``open`` → ``closing`` → ``done`` | ``expired``:

* ``open``: shown to people (or waiting for the simulation); it is in the sparse index ``open``
  (``open_job`` = job name, ``open_id`` = object number), which every pass queries per job;
* ``closing``: the one transition that decides the outcome. A conditional write moves an open task
  here with its output line, so of a person's answer, the simulation and expiry exactly one wins,
  whichever portal process made it. Delivering the output (S3 objects, the output topic) follows;
* ``done`` / ``expired``: delivered; the task leaves the index.

A process that dies between ``closing`` and delivered leaves the output in the item: the next pass
of any portal process delivers it again (S3 keys are fixed by the task, the topic's reader drops a
second copy of a line it has labelled).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from labelloop.aws import conditionally

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TaskState = Literal["open", "closing", "done", "expired"]
OPEN_INDEX = "open"
LEGACY_MARKER = "adopted#legacy-tasks"


@dataclass
class Task:
    job: str
    object_id: int
    dedup_id: str
    line: dict[str, Any]
    created_at: float
    expires_at: float
    answer_at: float | None  # None: waits for a person (or was abandoned by the simulation)
    status: TaskState = "open"
    output: dict[str, Any] | None = None  # set on closing: the output line to deliver
    worker: str | None = None  # who answered; None: expired
    closed_at: float | None = None  # clock time of the closing (names the output objects)
    closing_since: float = 0.0  # wall time of the closing: another process redelivers only a stale one
    external_id: int | None = None  # the task's id in Label Studio, for a job labelled there


def _key(job: str, object_id: int) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"task#{job}#{object_id}"}}


def _from_item(item: dict[str, Any]) -> Task:
    return Task(**json.loads(item["task"]["S"]))


class TaskStore:
    """The portal table's task items, dedup ids and object numbering."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def item(self, task: Task) -> dict[str, Any]:
        item: dict[str, Any] = {**_key(task.job, task.object_id), "task": {"S": json.dumps(asdict(task))},
                                "state": {"S": task.status}}  # fmt: skip
        if task.status in ("open", "closing"):
            item |= {"open_job": {"S": task.job}, "open_id": {"N": str(task.object_id)}}
        return item

    # -- reads ----------------------------------------------------------------------------------

    def get(self, job: str, object_id: int) -> Task | None:
        found = self._dynamodb.get_item(TableName=self._table, Key=_key(job, object_id), ConsistentRead=True)
        return _from_item(found["Item"]) if "Item" in found else None

    def unfinished(self, job: str) -> list[Task]:
        """The job's open and closing tasks, by object number (a query of the sparse index)."""
        tasks: list[Task] = []
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=OPEN_INDEX,
            KeyConditionExpression="open_job = :job",
            ExpressionAttributeValues={":job": {"S": job}},
        )
        for page in pages:
            tasks += [_from_item(item) for item in page["Items"]]
        return tasks

    def claimed(self, job: str, dedup: str) -> bool:
        key = {"pk": {"S": f"dedup#{job}#{dedup}"}}
        return "Item" in self._dynamodb.get_item(TableName=self._table, Key=key, ConsistentRead=True)

    # -- writes ---------------------------------------------------------------------------------

    def adopt_legacy_tasks(self) -> int:
        """Tasks stored by portals before this layout (a JSON blob only, the open ones kept in memory)
        put into the open index; once per table, remembered by a marker item, as it scans. How many."""
        marker = {"pk": {"S": LEGACY_MARKER}}
        if "Item" in self._dynamodb.get_item(TableName=self._table, Key=marker, ConsistentRead=True):
            return 0
        adopted = 0
        pages = self._dynamodb.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="begins_with(pk, :t) AND attribute_not_exists(#state)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":t": {"S": "task#"}},
        )
        for page in pages:
            for item in page["Items"]:
                self._dynamodb.put_item(TableName=self._table, Item=self.item(_from_item(item)))
                adopted += 1
        self._dynamodb.put_item(TableName=self._table, Item=marker)
        return adopted

    def next_object_id(self, job: str) -> int:
        """A number no other object of the job has (atomic, so several portal processes agree). A
        number drawn for an object that then fails to be stored is a gap, nothing worse."""
        result = self._dynamodb.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"seq#{job}"}},
            UpdateExpression="ADD next_id :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(result["Attributes"]["next_id"]["N"]) - 1

    def claim_with_task(self, task: Task) -> bool:
        """The dedup id and its task in one transaction: a failure between two writes can no longer
        leave an id claimed without a task (an object never shown, every resend dropped). False: the
        id was claimed already."""
        return conditionally(lambda: self._dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": self._table, "Item": {"pk": {"S": f"dedup#{task.job}#{task.dedup_id}"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self._table, "Item": self.item(task)}},
        ]))  # fmt: skip

    def close(self, task: Task, output: dict[str, Any], worker: str | None, now: float, wall: float) -> Task | None:
        """Decide ``task``'s outcome: open → closing with its output line. None: it was closed already
        (another process, a person and an expiry raced; the first one stands)."""
        closing = Task(**{**asdict(task), "status": "closing", "output": output, "worker": worker,
                          "closed_at": now, "closing_since": wall})  # fmt: skip
        return closing if self._move(closing, "open") else None

    def shown(self, task: Task, external_id: int) -> bool:
        """Record where an open task is shown (its Label Studio task); False: it closed meanwhile."""
        return self._move(Task(**{**asdict(task), "external_id": external_id}), "open")

    def delivered(self, task: Task) -> None:
        """closing → done (answered) or expired: it leaves the open index."""
        final = Task(**{**asdict(task), "status": "done" if task.worker is not None else "expired"})
        self._move(final, "closing")

    def _move(self, task: Task, expected: TaskState) -> bool:
        return conditionally(
            lambda: self._dynamodb.put_item(
                TableName=self._table,
                Item=self.item(task),
                ConditionExpression="#state = :expected",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":expected": {"S": expected}},
            )
        )
