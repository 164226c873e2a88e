"""trainer settings: environment variables prefixed ``LABELLOOP_TRAINER_``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from labelloop import WorkerSettings
from labelloop.synth.scene import Camera
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class TrainerSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_TRAINER_", extra="ignore", frozen=True)

    threshold: int = Field(default=50, ge=1, description="Human labels since the last model that start a training.")
    settle_s: float = Field(
        default=60.0, ge=0, description="A training starts once no label arrived for this long (a burst trains once)."
    )
    check_every_s: float = Field(default=5.0, gt=0, description="Real seconds between two checks for a due training.")
    lock_ttl_s: int = Field(default=3 * 3600, ge=60, description="A training lock older than this is taken over.")
    epochs: int = Field(default=5, ge=1, description="Fine-tuning epochs per model and round.")
    new_model_epochs: int = Field(
        default=30, ge=1, description="Epochs of a model new to the set (a head detector from pose_main's backbone)."
    )
    imgsz: int | None = Field(
        default=None, ge=32, multiple_of=32, description="Training and evaluation input size; default: the set's own."
    )
    include_auto: bool = Field(default=False, description="Train on confident auto-labels too, not only human ones.")
    auto_min_confidence: float = Field(default=0.9, ge=0, le=1, description="Lowest auto-label confidence trained on.")
    holdout: Literal["auto", "synthetic", "people"] = Field(
        default="auto",
        description="What candidates are measured on: synthetic scenes (in-cabin rig only), a share of people's "
        "labels, or auto (synthetic for the in-cabin rig, people's for any other).",
    )
    holdout_share: float = Field(
        default=0.2, gt=0, lt=1, description="Share of the frames people label kept out of training for the holdout."
    )
    min_holdout_frames: int = Field(
        default=20, ge=1, description="People's holdout frames (with keypoints) a round needs before it trains."
    )
    head_min_labels: int = Field(
        default=50,
        ge=1,
        description="Frames with head boxes people corrected before a set without one trains a "
        "head detector (until then, and unless it beats them, head boxes come from the face points).",
    )
    holdout_seed: int = Field(default=2_000_000, description="First seed of the fixed synthetic holdout.")
    holdout_size: int = Field(default=64, ge=8, description="Scenes in the fixed holdout.")
    holdout_camera: Camera = Field(
        default="standard", description="Camera of the holdout scenes: standard, or rolled (a new car's camera)."
    )
    # Not 0: on a holdout of tens of scenes a metric moves by about 0.01 between two equally good
    # models, and a strict rule would reject a set that is better on three metrics for noise on one.
    promote_tolerance: float = Field(
        default=0.01, ge=0, le=1, description="A candidate may trail the serving model by this much per metric."
    )
    initial_models: Path = Field(
        default=Path("models/initial"), description="The model set folder installed as version 1 on a fresh stack."
    )
    model_repository: Path = Field(default=Path("model-repository"), description="Triton's model repository.")
    triton_url: str = Field(default="127.0.0.1:8000", description="Triton's HTTP endpoint, to load new versions.")
    triton_backend: Literal["python", "onnxruntime"] = Field(
        default="python", description="python: the local stack's Triton; onnxruntime: a full Triton image."
    )
    work_dir: Path | None = Field(default=None, description="Where datasets and runs go; default: system temp.")
