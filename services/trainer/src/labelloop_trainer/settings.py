"""trainer settings: environment variables prefixed ``LABELLOOP_TRAINER_``."""

from __future__ import annotations

from labelloop import WorkerSettings
from pydantic_settings import SettingsConfigDict


class TrainerSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_TRAINER_", extra="ignore", frozen=True)
