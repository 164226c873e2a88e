"""inference settings: environment variables prefixed ``LABELLOOP_INFERENCE_``."""

from __future__ import annotations

from labelloop import WorkerSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from labelloop_inference.tracks import TrackerSettings


class InferenceSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_INFERENCE_", extra="ignore", frozen=True)

    triton_url: str = Field(default="127.0.0.1:8000", description="Triton's HTTP endpoint, host:port.")
    triton_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one Triton call.")
    triton_retry_s: float = Field(
        default=600.0, ge=0, description="How long a message waits for an unavailable Triton before redelivery."
    )
    imgsz: int | None = Field(
        default=None, ge=32, le=2048, multiple_of=32,
        description="Square input size; default: the serving set's own (640 for yolo11n-pose).",
    )  # fmt: skip
    max_batch: int = Field(
        default=8, ge=1, le=64, description="Frames per Triton request (config.pbtxt max_batch_size)."
    )
    t_main: float = Field(
        default=0.6, ge=0, le=1, description="Keypoint exists when pose_main's confidence exceeds this."
    )
    t_vis: float = Field(default=0.6, ge=0, le=1, description="...and is visible when pose_visible's exceeds this.")
    t_main_single: float = Field(
        default=0.3, ge=0, le=1,
        description="Without a pose_visible model: a point exists above this pose_main confidence (visible above "
        "T_VIS, else occluded).",
    )  # fmt: skip
    detection_threshold: float = Field(default=0.25, ge=0, le=1, description="Lowest person/head confidence kept.")
    nms_iou: float = Field(default=0.6, gt=0, le=1, description="Overlap above which NMS drops the weaker box.")
    max_persons: int = Field(default=6, ge=1, le=50, description="Most persons (and heads) kept per frame.")
    version_refresh_s: float = Field(
        default=30.0, ge=0, description="How often the serving model versions are re-read."
    )
    fetch_workers: int = Field(default=8, ge=1, le=64, description="Threads downloading frames.")

    tracking_stall_s: float = Field(
        default=3600.0,
        gt=0,
        description="A clip whose tracking has waited this long for a batch that never came passes over it (longer "
        "than a batch can take: TRITON_RETRY_S times the queue's receives).",
    )
    tracking_sweep_s: float = Field(default=60.0, gt=0, description="How often stalled clips are looked for.")
    track_match_thresh: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="ByteTrack's highest matching cost (1 - IoU, fused with the score). Unset: by the sampling, "
        "0.8 (ByteTrack's) for frames at most 0.15 s apart, else 0.9, which keeps ids of people walking when frames "
        "are sampled a few a second, with a few more switches where people cross.",
    )
    track_buffer: int = Field(default=30, ge=1, description="Sampled frames a lost track is kept to be found again.")

    def tracker(self) -> TrackerSettings:
        """The tracker's part of these settings."""
        return TrackerSettings(match_thresh=self.track_match_thresh, track_buffer=self.track_buffer)
