"""inference settings: environment variables prefixed ``LABELLOOP_INFERENCE_``."""

from __future__ import annotations

from typing import Annotated

from labelloop import WorkerSettings
from labelloop.rig import IN_CABIN_17, Rig
from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict


class InferenceSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_INFERENCE_", extra="ignore", frozen=True)

    triton_url: str = Field(default="127.0.0.1:8000", description="Triton's HTTP endpoint, host:port.")
    triton_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one Triton call.")
    triton_retry_s: float = Field(
        default=600.0, ge=0, description="How long a message waits for an unavailable Triton before redelivery."
    )
    imgsz: int = Field(default=160, ge=32, le=1280, multiple_of=32, description="Square input size of the models.")
    max_batch: int = Field(
        default=8, ge=1, le=64, description="Frames per Triton request (config.pbtxt max_batch_size)."
    )
    t_main: float = Field(
        default=0.6, ge=0, le=1, description="Keypoint exists when pose_main's confidence exceeds this."
    )
    t_vis: float = Field(default=0.6, ge=0, le=1, description="...and is visible when pose_visible's exceeds this.")
    detection_threshold: float = Field(default=0.25, ge=0, le=1, description="Lowest person/head confidence kept.")
    nms_iou: float = Field(default=0.6, gt=0, le=1, description="Overlap above which NMS drops the weaker box.")
    max_persons: int = Field(default=6, ge=1, le=50, description="Most persons (and heads) kept per frame.")
    keypoints: Annotated[tuple[str, ...], NoDecode] = Field(
        default=IN_CABIN_17.keypoints, description="The rig, in model output order."
    )
    version_refresh_s: float = Field(
        default=30.0, ge=0, description="How often the serving model versions are re-read."
    )
    fetch_workers: int = Field(default=8, ge=1, le=64, description="Threads downloading frames.")

    @field_validator("keypoints", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return tuple(part.strip() for part in value.split(",")) if isinstance(value, str) else value

    @field_validator("keypoints")
    @classmethod
    def _known_rig(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        Rig("configured", value)  # raises with the unknown or unpaired joints named
        return value
