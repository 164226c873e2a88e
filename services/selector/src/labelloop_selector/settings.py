"""selector settings: environment variables prefixed ``LABELLOOP_SELECTOR_``."""

from __future__ import annotations

from typing import Literal

from labelloop import WorkerSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class SelectorSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_SELECTOR_", extra="ignore", frozen=True)

    strategy: str = Field(
        default="least_confidence",
        description="least_confidence, margin, entropy, visibility_ambiguity, committee, temporal, or your "
        "module:function; several joined by + score a frame by the lowest (least_confidence+temporal).",
    )
    threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Scores below it go to people (while no target is stated)."
    )
    target_keypoint_pck: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Share of auto-accepted keypoints within PCK@0.1 of people's, proven from audits; 0 = no target. "
        "Any target replaces the fixed threshold by the lowest one its audits prove (calibration.py).",
    )
    target_head_iou: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Share of auto-accepted head boxes at IoU >= 0.5; 0 = no target."
    )
    target_visibility: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Share of auto-accepted keypoint visibilities right; 0 = no target."
    )
    confidence: float = Field(
        default=0.9, gt=0.5, lt=1.0, description="Confidence of the lower bound that must meet each target."
    )
    min_audits: int = Field(default=30, ge=1, description="Fewest audits above a threshold that may prove it.")
    calibration_refresh_s: float = Field(
        default=5.0, ge=0.0, description="How long a worker keeps a model version's threshold before reading it again."
    )
    aggregate: Literal["min", "mean"] = Field(default="min", description="How item scores make a frame's score.")
    empty_frame_score: float = Field(default=0.0, ge=0.0, le=1.0, description="Score of a frame with no detection.")
    control_fraction: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Share of frames audited (a seeded draw, whatever their score): auto-accepted ones also go to "
        "people (the control arm), and people's labels of all of them are the evidence of the thresholds.",
    )
    control_seed: int = Field(default=0, description="Seed of the control arm's reproducible draw.")
    t_main: float = Field(default=0.6, ge=0.0, le=1.0, description="Visibility rule: pose_main threshold.")
    t_vis: float = Field(default=0.6, ge=0.0, le=1.0, description="Visibility rule: pose_visible threshold.")
    committee_scale: float = Field(
        default=0.1, gt=0.0, description="committee: the pose models' disagreement (of the box diagonal) scoring 0."
    )
    temporal_scale: float = Field(
        default=0.2,
        gt=0.0,
        description="temporal: a tracked person's temporal change (Person.temporal_change) scoring 0.",
    )
    near_duplicate_distance: float = Field(
        default=0.02, ge=0.0, description="Displacement (fraction of the image) below which frames are duplicates."
    )
    max_human_per_clip: int = Field(default=0, ge=0, description="Frames of one clip sent to people; 0 = no limit.")
    max_human_per_hour: int = Field(default=0, ge=0, description="Frames sent to people per hour; 0 = no limit.")

    @property
    def targets(self) -> dict[str, float]:
        """Each measure with a stated target (``labelloop.label_quality.MEASURES``)."""
        stated = {"head": self.target_head_iou, "keypoint_pck": self.target_keypoint_pck,
                  "visibility": self.target_visibility}  # fmt: skip
        return {measure: target for measure, target in stated.items() if target > 0}
