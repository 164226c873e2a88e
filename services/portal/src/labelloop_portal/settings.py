"""portal settings: environment variables prefixed ``LABELLOOP_PORTAL_``."""

from __future__ import annotations

from typing import Literal

from labelloop import WorkerSettings
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict


class PortalSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_PORTAL_", extra="ignore", frozen=True)

    mode: Literal["simulated", "people"] = Field(
        default="people",
        description="people: annotators answer at the web page; simulated (demos only): a simulated annotator "
        "answers from hidden ground truth.",
    )
    tick_s: float = Field(default=0.5, gt=0, description="Real seconds between two passes over the jobs.")
    sim_delay_s: float = Field(default=60.0, ge=0, description="Simulated annotator's time per task (clock seconds).")
    sim_error_rate: float = Field(default=0.0, ge=0, le=1, description="Share of simulated answers with a mistake.")
    sim_abandon_rate: float = Field(
        default=0.0, ge=0, le=1, description="Share of tasks the simulation never answers (they expire)."
    )
    sim_seed: int = Field(default=0, description="Seed of the simulated annotator's choices (per task, reproducible).")
    http_host: str = Field(default="127.0.0.1", description="Address the web page listens on.")
    access_token: SecretStr = Field(
        default=SecretStr(""),
        description="A token every web request must carry (labelloop up makes one); empty: none (behind an ALB "
        "that signs people in).",
    )
    http_port: int = Field(default=8088, ge=0, le=65535, description="Port of the web page; 0 serves none.")
