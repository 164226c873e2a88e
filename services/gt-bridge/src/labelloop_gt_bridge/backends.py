"""Labeling backends: the port gt-bridge drives, and its two adapters.

* :class:`PortalBackend` — the self-hosted portal (default; Ground Truth takes no new customers), whose
  people answer at its own page or, with ``backend=label-studio``, in a Label Studio project per job
  that the portal keeps in step (:mod:`labelloop_portal.label_studio`);
* :class:`labelloop_gt_bridge.ground_truth.GroundTruthBackend` — AWS SageMaker Ground Truth streaming
  jobs through boto3.

Both take the same :class:`JobDefinition`; everything after creation happens on SNS topics in the
Ground Truth protocol, identical for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from labelloop.groundtruth import JobSpec, JobStatus
from labelloop.portal_api import PortalJob, create_job, get_job

from labelloop_gt_bridge.settings import GtBridgeSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class JobDefinition:
    name: str
    spec: JobSpec
    input_topic_arn: str
    output_topic_arn: str
    output_s3_uri: str


class LabelingBackend(Protocol):
    def create_job(self, job: JobDefinition, now: float) -> None: ...

    def status(self, job_name: str) -> JobStatus | None:
        """The job's status, or None if the backend does not know it."""
        ...


class PortalBackend:
    """Creates jobs as records in the portal's table; the portal does the rest."""

    def __init__(self, dynamodb: DynamoDBClient, table: str, settings: GtBridgeSettings) -> None:
        self._db = dynamodb
        self._table = table
        self._settings = settings

    def create_job(self, job: JobDefinition, now: float) -> None:
        create_job(
            self._db,
            self._table,
            PortalJob(
                name=job.name,
                modality=job.spec.modality,
                level=job.spec.level,
                label_attribute=job.spec.label_attribute,
                input_topic_arn=job.input_topic_arn,
                output_topic_arn=job.output_topic_arn,
                output_s3_uri=job.output_s3_uri,
                task_lifetime_s=self._settings.task_lifetime_s,
                task_time_limit_s=self._settings.task_time_limit_s,
                max_concurrent_tasks=self._settings.max_concurrent_tasks,
                created_at=now,
                last_activity_at=now,
                labeler="label-studio" if self._settings.backend == "label-studio" else "portal",
            ),
        )

    def status(self, job_name: str) -> JobStatus | None:
        job = get_job(self._db, self._table, job_name)
        return job.status if job else None
