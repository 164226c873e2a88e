"""Labeling backends: the port gt-bridge drives, and its two adapters.

* :class:`PortalBackend` — the self-hosted portal (default; Ground Truth takes no new customers);
* :class:`GroundTruthBackend` — AWS SageMaker Ground Truth streaming jobs through boto3.

Both take the same :class:`JobDefinition`; everything after creation happens on SNS topics in the
Ground Truth protocol, identical for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from labelloop.groundtruth import JobSpec, JobStatus
from labelloop.portal_api import PortalJob, create_job, get_job

from labelloop_gt_bridge.settings import GtBridgeSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sagemaker import SageMakerClient


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
            ),
        )

    def status(self, job_name: str) -> JobStatus | None:
        job = get_job(self._db, self._table, job_name)
        return job.status if job else None


TASK_TITLES = {
    "head": "Draw a box around every head",
    "keypoints": "Place the skeleton's points and mark each visible, occluded or outside",
}


class GroundTruthBackend:
    """SageMaker Ground Truth streaming jobs (boto3 ``sagemaker``)."""

    def __init__(self, sagemaker: SageMakerClient, settings: GtBridgeSettings, region: str) -> None:
        self._sagemaker = sagemaker
        self._settings = settings
        self._region = region

    def request(self, job: JobDefinition) -> dict[str, Any]:
        """The ``CreateLabelingJob`` request (exposed so tests validate it against botocore's model)."""
        s = self._settings
        adjusting = job.spec.level == 2
        return {
            "LabelingJobName": job.name,
            "LabelAttributeName": job.spec.label_attribute,
            "InputConfig": {"DataSource": {"SnsDataSource": {"SnsTopicArn": job.input_topic_arn}}},
            "OutputConfig": {"S3OutputPath": job.output_s3_uri, "SnsTopicArn": job.output_topic_arn},
            "RoleArn": s.role_arn,
            "HumanTaskConfig": {
                "WorkteamArn": s.workteam_arn,
                "UiConfig": {"UiTemplateS3Uri": s.ui_template_s3_uri},
                "PreHumanTaskLambdaArn": s.pre_lambda_arn,
                "TaskTitle": ("Adjust: " if adjusting else "") + TASK_TITLES[job.spec.modality],
                "TaskDescription": f"Labelloop {job.spec.modality} labels, level {job.spec.level}.",
                "NumberOfHumanWorkersPerDataObject": 1,
                "TaskTimeLimitInSeconds": s.task_time_limit_s,
                "TaskAvailabilityLifetimeInSeconds": s.task_lifetime_s,
                "MaxConcurrentTaskCount": s.max_concurrent_tasks,
                "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": s.consolidation_lambda_arn},
            },
            "Tags": [{"Key": "labelloop:job", "Value": job.spec.key}],
        }

    def create_job(self, job: JobDefinition, now: float) -> None:  # noqa: ARG002 - GT keeps its own time
        self._sagemaker.create_labeling_job(**self.request(job))

    def status(self, job_name: str) -> JobStatus | None:
        try:
            described = self._sagemaker.describe_labeling_job(LabelingJobName=job_name)
        except self._sagemaker.exceptions.ResourceNotFound:
            return None
        return described["LabelingJobStatus"]
