"""portal settings: environment variables prefixed ``LABELLOOP_PORTAL_``."""

from __future__ import annotations

from typing import Literal

from labelloop import WorkerSettings
from pydantic import Field, SecretStr, model_validator
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
    propagate_window: int = Field(
        default=5,
        ge=0,
        description="A person corrected in one frame starts corrected in the clip's frames up to this many frames "
        "away (the points people changed, carried by the model's motion of their track); 0: every task starts "
        "from the model.",
    )
    http_host: str = Field(default="127.0.0.1", description="Address the web page listens on.")
    access_token: SecretStr = Field(
        default=SecretStr(""),
        description="A token every web request must carry (labelloop up makes one); empty: none (behind an ALB "
        "that signs people in).",
    )
    http_port: int = Field(default=8088, ge=0, le=65535, description="Port of the web page; 0 serves none.")
    # Jobs gt-bridge made with backend=label-studio are answered in Label Studio: one project per job.
    label_studio_url: str = Field(
        default="", description="Label Studio's base URL (http://host:8080); needed by jobs labelled there."
    )
    label_studio_token: SecretStr = Field(
        default=SecretStr(""), description="A Label Studio API token (Account & Settings > Access Token)."
    )
    label_studio_webhook_url: str = Field(
        default="",
        description="Where Label Studio can reach this portal's /label-studio/webhook (e.g. "
        "http://portal:8088/label-studio/webhook); empty: no webhook, answers are collected by polling only.",
    )
    label_studio_webhook_secret: SecretStr = Field(
        default=SecretStr(""),
        description="A shared secret Label Studio sends in the X-Labelloop-Webhook-Secret header; a webhook "
        "without it is refused. Needed with label_studio_webhook_url.",
    )
    label_studio_poll_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between two polls of each Label Studio project: answers a webhook missed, tasks "
        "deleted there (they count as expired), and whether Label Studio is back after an outage.",
    )
    label_studio_frames_url: str = Field(
        default="",
        description="This portal's base URL as labellers' browsers reach it (https://portal.example.com); a "
        "Label Studio task shows its frame through a signed link there. Empty: http://127.0.0.1:<http_port>.",
    )

    @model_validator(mode="after")
    def _webhook_has_secret(self) -> PortalSettings:
        if self.label_studio_webhook_url and not self.label_studio_webhook_secret.get_secret_value():
            raise ValueError("LABEL_STUDIO_WEBHOOK_URL needs LABEL_STUDIO_WEBHOOK_SECRET: a webhook must be signed")
        return self
