"""gt-bridge settings: environment variables prefixed ``LABELLOOP_GT_BRIDGE_``."""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Literal

import botocore.session
from labelloop import WorkerSettings
from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

DAY_S = 24 * 3600
TASK_TYPES = ("head", "keypoints", "adjustment")
"""Ground Truth task types: level-1 head boxes, level-1 keypoints, level-2 adjustment of either; each has
its UI template (``ui/<type>.liquid.html``) and its pre-annotation and consolidation Lambdas."""
GROUND_TRUTH_SHAPES = {
    "role_arn": "RoleArn",
    "workteam_arn": "WorkteamArn",
    **{f"{task}_{step}_lambda_arn": "LambdaFunctionArn" for task in TASK_TYPES for step in ("pre", "consolidation")},
}
"""Each Ground Truth setting and the botocore ``sagemaker`` shape whose pattern it must match."""


@cache
def _sagemaker_pattern(shape: str) -> str:
    return str(botocore.session.get_session().get_service_model("sagemaker").shape_for(shape).metadata["pattern"])


SQS_RETENTION_S = 14 * DAY_S


class GtBridgeSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_GT_BRIDGE_", extra="ignore", frozen=True)

    backend: Literal["portal", "label-studio", "ground-truth"] = Field(
        default="portal",
        description="Who labels: the self-hosted portal's page; Label Studio, through the portal (which "
        "needs LABELLOOP_PORTAL_LABEL_STUDIO_URL and _TOKEN); or AWS SageMaker Ground Truth.",
    )
    # NoDecode: the environment lists them comma-separated (head,keypoints), not as JSON.
    modalities: Annotated[tuple[Literal["head", "keypoints"], ...], NoDecode] = Field(
        default=("head", "keypoints"), description="One level-1 streaming job per modality."
    )
    level2: Annotated[tuple[Literal["head", "keypoints"], ...], NoDecode] = Field(
        default=(), description="Modalities whose level-1 labels go through a level-2 adjustment job."
    )
    # SQS keeps a message 14 days at most, a Ground Truth job's input queue included: resending the
    # same dedup id a day before that keeps every object alive there.
    resend_after_s: float = Field(
        default=5 * DAY_S,
        gt=0,
        le=SQS_RETENTION_S - DAY_S,
        description="Resend an unlabeled object (same dedup id) this long after sending it (at most 13 days).",
    )
    sweep_every_s: float = Field(default=30.0, gt=0, description="Real seconds between resend and job-health sweeps.")
    # Ground Truth's limits (botocore's sagemaker model has the minimums, its documentation the maximums):
    # a private workforce's task lives at most 30 days; a custom task gives a worker at most 8 hours.
    task_lifetime_s: int = Field(
        default=10 * DAY_S,
        ge=60,
        le=30 * DAY_S,
        description="TaskAvailabilityLifetimeInSeconds: a task not done by then expires (60 s to 30 days).",
    )
    topic_kms_key: str = Field(
        default="", description="KMS key of the labeling topics it creates (the stack's messaging key on ECS)."
    )
    max_failures: int = Field(
        default=3,
        ge=0,
        description="Tasks of one object that may fail otherwise than by expiring (each resent "
        "under a new dedup id) before the object is failed and its output line dead-lettered with the reason.",
    )
    job_replace_after_s: float = Field(
        default=60.0, gt=0, description="Wait before replacing a dead job; x4 for each replacement in a row (max 6 h)."
    )
    job_max_replacements: int = Field(
        default=5, ge=1, description="Incarnations in a row that die before running, after which the job is failed."
    )
    task_time_limit_s: int = Field(
        default=3600, ge=30, le=8 * 3600, description="TaskTimeLimitInSeconds per worker (30 s to 8 hours)."
    )
    max_concurrent_tasks: int = Field(default=1000, ge=1, le=5000, description="MaxConcurrentTaskCount per job.")
    # Ground Truth only (ignored by the portal):
    role_arn: str = Field(default="", description="IAM role Ground Truth assumes (backend ground-truth).")
    workteam_arn: str = Field(default="", description="Private workteam ARN (backend ground-truth).")
    head_pre_lambda_arn: str = Field(default="", description="Pre-annotation Lambda of head-box tasks (ground-truth).")
    head_consolidation_lambda_arn: str = Field(default="", description="Consolidation Lambda of head-box tasks.")
    keypoints_pre_lambda_arn: str = Field(default="", description="Pre-annotation Lambda of keypoint tasks.")
    keypoints_consolidation_lambda_arn: str = Field(default="", description="Consolidation Lambda of keypoint tasks.")
    adjustment_pre_lambda_arn: str = Field(default="", description="Pre-annotation Lambda of level-2 tasks.")
    adjustment_consolidation_lambda_arn: str = Field(default="", description="Consolidation Lambda of level-2 tasks.")

    @model_validator(mode="after")
    def _ground_truth_is_complete(self) -> GtBridgeSettings:
        """With the ground-truth backend, every setting CreateLabelingJob needs is there and has the shape
        botocore's sagemaker model gives it: a wrong or empty one stops the service at start (exit 78)
        rather than at the first job, in AWS's words."""
        if self.backend != "ground-truth":
            return self
        problems = [
            f"{name.upper()} must match {pattern!r} (got {value!r})"
            for name, shape in GROUND_TRUTH_SHAPES.items()
            if not re.fullmatch(pattern := _sagemaker_pattern(shape), value := getattr(self, name))
        ]
        if problems:
            raise ValueError("the ground-truth backend needs " + "; ".join(problems))
        return self

    @field_validator("modalities", "level2", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return tuple(p.strip() for p in value.split(",") if p.strip()) if isinstance(value, str) else value
