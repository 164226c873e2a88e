"""The Ground Truth backend: streaming labeling jobs in AWS SageMaker Ground Truth (boto3 ``sagemaker``).

Each job is one of three task types (:data:`labelloop_gt_bridge.settings.TASK_TYPES`): level-1 head
boxes, level-1 keypoints, level-2 adjustment. Per type it gets its UI template (``ui/<type>.liquid.html``)
and its pair of Lambdas (``ground_truth_lambda.py``, deployed per type by the ECS template). Before
creating a job, gt-bridge writes under the job's output folder, ``<S3OutputPath>/<job>/config/``:

* ``ui.liquid.html``: the type's template, as Ground Truth reads it (``UiTemplateS3Uri``);
* ``label-categories.json``: the labels offered, from the serving model set's rig
  (``LabelCategoryConfigS3Uri``): ``head``, or each keypoint name and its ``(occluded)`` twin.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from labelloop.groundtruth import JobSpec, JobStatus
from labelloop.rig import Rig
from labelloop.s3_uri import split_s3_uri

from labelloop_gt_bridge.backends import JobDefinition
from labelloop_gt_bridge.settings import GtBridgeSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

OCCLUDED_SUFFIX = " (occluded)"
"""A keypoint placed under "<name> (occluded)" is occluded (the Lambda's twin constant: it imports nothing)."""
TASK_TITLES = {
    "head": "Draw a box around every head",
    "keypoints": "Place the skeleton's points and mark each visible, occluded or outside",
}


def task_type(spec: JobSpec) -> str:
    return "adjustment" if spec.level == 2 else spec.modality


def ui_template(spec: JobSpec) -> str:
    return resources.files("labelloop_gt_bridge").joinpath(f"ui/{task_type(spec)}.liquid.html").read_text()


def label_categories(spec: JobSpec, rig: Rig) -> dict[str, Any]:
    """Ground Truth's label category configuration for ``spec``'s jobs on ``rig``."""
    if spec.modality == "head":
        labels = ["head"]
    else:
        labels = [*rig.keypoints, *(name + OCCLUDED_SUFFIX for name in rig.keypoints)]
    return {"document-version": "2018-11-28", "labels": [{"label": label} for label in labels]}


def config_uris(job: JobDefinition) -> tuple[str, str]:
    """Where a job's UI template and label categories lie (its own folder: a job keeps what it started with)."""
    base = f"{job.output_s3_uri.rstrip('/')}/{job.name}/config"
    return f"{base}/ui.liquid.html", f"{base}/label-categories.json"


class GroundTruthBackend:
    """SageMaker Ground Truth streaming jobs (boto3 ``sagemaker``)."""

    def __init__(
        self, sagemaker: SageMakerClient, s3: S3Client, settings: GtBridgeSettings, serving_rig: Callable[[], Rig]
    ) -> None:
        self._sagemaker = sagemaker
        self._s3 = s3
        self._settings = settings
        self._serving_rig = serving_rig

    def request(self, job: JobDefinition) -> dict[str, Any]:
        """The ``CreateLabelingJob`` request (exposed so tests validate it against botocore's model)."""
        s = self._settings
        kind = task_type(job.spec)
        ui_uri, labels_uri = config_uris(job)
        return {
            "LabelingJobName": job.name,
            "LabelAttributeName": job.spec.label_attribute,
            "InputConfig": {"DataSource": {"SnsDataSource": {"SnsTopicArn": job.input_topic_arn}}},
            "OutputConfig": {"S3OutputPath": job.output_s3_uri, "SnsTopicArn": job.output_topic_arn},
            "RoleArn": s.role_arn,
            "LabelCategoryConfigS3Uri": labels_uri,
            "HumanTaskConfig": {
                "WorkteamArn": s.workteam_arn,
                "UiConfig": {"UiTemplateS3Uri": ui_uri},
                "PreHumanTaskLambdaArn": getattr(s, f"{kind}_pre_lambda_arn"),
                "TaskTitle": ("Adjust: " if job.spec.level == 2 else "") + TASK_TITLES[job.spec.modality],
                "TaskDescription": f"Labelloop {job.spec.modality} labels, level {job.spec.level}.",
                "NumberOfHumanWorkersPerDataObject": 1,
                "TaskTimeLimitInSeconds": s.task_time_limit_s,
                "TaskAvailabilityLifetimeInSeconds": s.task_lifetime_s,
                "MaxConcurrentTaskCount": s.max_concurrent_tasks,
                "AnnotationConsolidationConfig": {
                    "AnnotationConsolidationLambdaArn": getattr(s, f"{kind}_consolidation_lambda_arn")
                },
            },
            "Tags": [{"Key": "labelloop:job", "Value": job.spec.key}],
        }

    def write_config(self, job: JobDefinition) -> None:
        """The job's UI template and label categories, where :func:`config_uris` says."""
        ui_uri, labels_uri = config_uris(job)
        for uri, body, kind in (
            (ui_uri, ui_template(job.spec), "text/html"),
            (labels_uri, json.dumps(label_categories(job.spec, self._serving_rig())), "application/json"),
        ):
            bucket, key = split_s3_uri(uri)
            self._s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType=kind)

    def create_job(self, job: JobDefinition, now: float) -> None:  # noqa: ARG002 - GT keeps its own time
        self.write_config(job)
        self._sagemaker.create_labeling_job(**self.request(job))

    def status(self, job_name: str) -> JobStatus | None:
        try:
            described = self._sagemaker.describe_labeling_job(LabelingJobName=job_name)
        except self._sagemaker.exceptions.ResourceNotFound:
            return None
        return described["LabelingJobStatus"]
