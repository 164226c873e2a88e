"""Settings shared by every service; each service subclasses them with its own env prefix.

One pydantic-settings class per service, ``env_prefix="LABELLOOP_<SVC>_"``, built once in the
entrypoint. AWS credentials, region and endpoint follow boto3's own variables
(``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``...) unless the service's ``*_AWS_ENDPOINT_URL`` says
otherwise, so the same image runs against moto, LocalStack or real AWS.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["auto", "json", "console"]


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set ``model_config`` with their own prefix."""

    model_config = SettingsConfigDict(env_prefix="LABELLOOP_", extra="ignore", frozen=True)

    stack: str = Field(
        default="labelloop",
        pattern=r"^[a-z][a-z0-9-]{1,30}$",
        description="Prefix of every physical resource name (buckets, topics, queues, tables).",
    )
    aws_endpoint_url: str | None = Field(
        default=None, description="AWS endpoint override (moto, LocalStack); else boto3's AWS_ENDPOINT_URL."
    )
    aws_region: str | None = Field(default=None, description="Region; else boto3's AWS_DEFAULT_REGION.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: LogFormat = Field(default="auto", description="auto: readable on a TTY, JSON otherwise.")


class WorkerSettings(ServiceSettings):
    """Fields of services that consume an SQS queue through the worker runtime."""

    concurrency: int = Field(default=4, ge=1, le=256, description="Messages handled at once.")
    poll_wait_s: int = Field(default=10, ge=0, le=20, description="SQS long-poll wait per receive.")
    drain_timeout_s: float = Field(
        default=25.0, ge=0.0, description="On SIGTERM, how long in-flight handlers may finish (< ECS stopTimeout)."
    )
    idempotency_ttl_s: int = Field(
        default=7 * 24 * 3600, ge=60, description="How long a handled event id is remembered."
    )
