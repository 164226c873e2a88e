"""What a demo run does, and the settings it gives the services of the embedded stack."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from labelloop.synth.scene import Camera


@dataclass(frozen=True)
class DemoPlan:
    """A demo run. ``quick()`` is the under-three-minutes version the e2e test runs."""

    rounds: int = 4
    clips_per_round: int = 4
    clip_seconds: float = 3.0
    clip_fps: int = 10  # encoded frame rate
    sample_fps: float = 4.0  # frames per second ingest extracts
    seed: int = 11
    # The clips come from a new car's camera (rolled, closer) the shipped models never saw, and
    # the trainer's holdout is drawn from it too: the loop has something to learn.
    camera: Camera = "rolled"
    # selector
    strategy: str = "least_confidence"
    threshold: float = 0.12  # least_confidence (min): about half the new camera's frames at first
    control_fraction: float = 0.1
    # A stated quality (0: none, the fixed threshold decides): auto-accepted keypoints within PCK@0.1,
    # proven from audits per model version (the selector's TARGET_KEYPOINT_PCK).
    target_keypoint_pck: float = 0.0
    # simulated annotator: a person's time per task, on a clock running clock_speed times real time
    annotator_seconds: float = 40.0
    annotator_error_rate: float = 0.05
    clock_speed: float = 80.0
    # trainer
    epochs: int = 5
    holdout_size: int = 48
    random_arm: bool = True
    # cost model of the report
    hourly_rate_usd: float = 24.0
    round_timeout_s: float = 600.0

    @classmethod
    def quick(cls) -> DemoPlan:
        return cls(rounds=2, clips_per_round=3, clip_seconds=3.0, epochs=3, holdout_size=16, round_timeout_s=150.0)

    def with_overrides(self, **changes: Any) -> DemoPlan:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def modalities(self) -> tuple[str, ...]:
        return ("head", "keypoints")

    @property
    def cost_per_frame_usd(self) -> float:
        """What one frame costs when people label it: a task per modality at the annotator's pace."""
        return len(self.modalities) * self.annotator_seconds / 3600 * self.hourly_rate_usd

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def stack_env(self) -> dict[str, str]:
        """Service settings for the run (each service's documented prefix).

        Near-duplicate suppression and budgets are off, so that every frame ends auto-accepted
        or labeled by people, which is what the report accounts for; the trainer trains after
        each round's labels settle, on a holdout small enough for the run's time budget.
        """
        return {
            "LABELLOOP_CLOCK_SPEED": str(self.clock_speed),
            "LABELLOOP_INGEST_DEFAULT_FPS": str(self.sample_fps),
            "LABELLOOP_SELECTOR_STRATEGY": self.strategy,
            "LABELLOOP_SELECTOR_THRESHOLD": str(self.threshold),
            "LABELLOOP_SELECTOR_CONTROL_FRACTION": str(self.control_fraction),
            "LABELLOOP_SELECTOR_CONTROL_SEED": str(self.seed),
            "LABELLOOP_SELECTOR_TARGET_KEYPOINT_PCK": str(self.target_keypoint_pck),
            "LABELLOOP_SELECTOR_NEAR_DUPLICATE_DISTANCE": "0",
            "LABELLOOP_SELECTOR_MAX_HUMAN_PER_CLIP": "0",
            "LABELLOOP_SELECTOR_MAX_HUMAN_PER_HOUR": "0",
            "LABELLOOP_GT_BRIDGE_MODALITIES": ",".join(self.modalities),
            "LABELLOOP_PORTAL_MODE": "simulated",
            "LABELLOOP_PORTAL_TICK_S": "0.2",
            "LABELLOOP_PORTAL_SIM_DELAY_S": str(self.annotator_seconds),
            "LABELLOOP_PORTAL_SIM_ERROR_RATE": str(self.annotator_error_rate),
            "LABELLOOP_PORTAL_SIM_SEED": str(self.seed),
            "LABELLOOP_TRAINER_THRESHOLD": "1",
            "LABELLOOP_TRAINER_SETTLE_S": "3",
            "LABELLOOP_TRAINER_CHECK_EVERY_S": "1",
            "LABELLOOP_TRAINER_EPOCHS": str(self.epochs),
            "LABELLOOP_TRAINER_HOLDOUT_SIZE": str(self.holdout_size),
            "LABELLOOP_TRAINER_HOLDOUT_CAMERA": self.camera,
        }
