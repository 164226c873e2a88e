"""gt-bridge settings: environment variables prefixed ``LABELLOOP_GT_BRIDGE_``."""

from __future__ import annotations

from typing import Annotated, Literal

from labelloop import WorkerSettings
from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

DAY_S = 24 * 3600


class GtBridgeSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_GT_BRIDGE_", extra="ignore", frozen=True)

    backend: Literal["portal", "ground-truth"] = Field(
        default="portal", description="Who labels: the self-hosted portal, or AWS SageMaker Ground Truth."
    )
    # NoDecode: the environment lists them comma-separated (head,keypoints), not as JSON.
    modalities: Annotated[tuple[Literal["head", "keypoints"], ...], NoDecode] = Field(
        default=("head", "keypoints"), description="One level-1 streaming job per modality."
    )
    level2: Annotated[tuple[Literal["head", "keypoints"], ...], NoDecode] = Field(
        default=(), description="Modalities whose level-1 labels go through a level-2 adjustment job."
    )
    resend_after_s: float = Field(
        default=5 * DAY_S, gt=0, description="Resend an unlabeled object (same dedup id) this long after sending it."
    )
    sweep_every_s: float = Field(default=30.0, gt=0, description="Real seconds between resend and job-health sweeps.")
    task_lifetime_s: int = Field(
        default=10 * DAY_S, ge=60, description="TaskAvailabilityLifetimeInSeconds: a task not done by then expires."
    )
    task_time_limit_s: int = Field(default=3600, ge=30, description="TaskTimeLimitInSeconds per worker.")
    max_concurrent_tasks: int = Field(default=1000, ge=1, le=5000, description="MaxConcurrentTaskCount per job.")
    # Ground Truth only (ignored by the portal):
    role_arn: str = Field(default="", description="IAM role Ground Truth assumes (backend ground-truth).")
    workteam_arn: str = Field(default="", description="Private workteam ARN (backend ground-truth).")
    ui_template_s3_uri: str = Field(default="", description="Liquid template of the keypoint task (ground-truth).")
    pre_lambda_arn: str = Field(default="", description="Pre-annotation Lambda of the custom tasks (ground-truth).")
    consolidation_lambda_arn: str = Field(default="", description="Annotation-consolidation Lambda (ground-truth).")

    @field_validator("modalities", "level2", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return tuple(p.strip() for p in value.split(",") if p.strip()) if isinstance(value, str) else value
