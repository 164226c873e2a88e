"""The self-hosted portal's control plane: a labeling job is one record in the portal's table.

What ``CreateLabelingJob``/``DescribeLabelingJob`` are to Ground Truth, :func:`create_job` and
:func:`get_job` are to the portal. gt-bridge's portal adapter writes a job as ``Initializing``;
the portal creates the job's own SQS queue on the input topic (as Ground Truth creates
``GroundTruth-<job>``) and moves it to ``InProgress``; it stops a job that stayed idle too long.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from labelloop.aws import conditionally
from labelloop.groundtruth import JobStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

IDLE_STOP_S = 10 * 24 * 3600  # Ground Truth stops a streaming job after 10 idle days
Labeler = Literal["portal", "label-studio"]
"""Where people answer a job's tasks: the portal's own page, or a Label Studio project the portal keeps in step."""


class PortalJob(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    modality: Literal["head", "keypoints"]
    level: Literal[1, 2]
    label_attribute: str
    input_topic_arn: str
    output_topic_arn: str
    output_s3_uri: str  # S3OutputPath; outputs land under <it>/<job name>/
    task_lifetime_s: int
    task_time_limit_s: int
    max_concurrent_tasks: int
    status: JobStatus = "Initializing"
    queue_url: str = ""
    created_at: float
    last_activity_at: float
    labeler: Labeler = "portal"
    label_studio_project: int | None = None  # the job's Label Studio project, once made
    label_studio_keypoints: list[str] = []  # the keypoint labels its labeling config has
    problem: str = ""  # why the job takes no new tasks now (Label Studio unreachable...); empty: none


def _key(name: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"job#{name}"}}


JOBS_KEY = {"pk": {"S": "jobs"}}
"""The item listing every job's name: the portal reads it each pass instead of scanning its table,
which grows with every object (dedup ids, tasks)."""


def create_job(dynamodb: DynamoDBClient, table: str, job: PortalJob) -> bool:
    """Register ``job``, and its name in the job list, in one transaction; False when a job of that
    name exists (names are never reused)."""
    return conditionally(lambda: dynamodb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {**_key(job.name), "job": {"S": job.model_dump_json()}},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": table, "Key": JOBS_KEY, "UpdateExpression": "ADD job_names :name",
                    "ExpressionAttributeValues": {":name": {"SS": [job.name]}}}},
    ]))  # fmt: skip


def get_job(dynamodb: DynamoDBClient, table: str, name: str) -> PortalJob | None:
    item = dynamodb.get_item(TableName=table, Key=_key(name), ConsistentRead=True).get("Item")
    return PortalJob.model_validate_json(item["job"]["S"]) if item else None


def save_job(dynamodb: DynamoDBClient, table: str, job: PortalJob) -> None:
    dynamodb.put_item(TableName=table, Item={**_key(job.name), "job": {"S": job.model_dump_json()}})


def list_jobs(dynamodb: DynamoDBClient, table: str) -> list[PortalJob]:
    """Every job, oldest first: the job list, then its jobs by key (no scan)."""
    listed = dynamodb.get_item(TableName=table, Key=JOBS_KEY, ConsistentRead=True).get("Item") or {}
    names = sorted(listed.get("job_names", {}).get("SS", []))
    jobs = []
    for start in range(0, len(names), BATCH_GET_LIMIT):
        keys = [_key(name) for name in names[start : start + BATCH_GET_LIMIT]]
        request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            answer = dynamodb.batch_get_item(RequestItems=request)
            jobs += [PortalJob.model_validate_json(item["job"]["S"]) for item in answer["Responses"].get(table, [])]
            request = dict(answer.get("UnprocessedKeys") or {})
    return sorted(jobs, key=lambda job: job.created_at)


BATCH_GET_LIMIT = 100  # DynamoDB's BatchGetItem takes at most 100 keys
