"""inference settings: environment variables prefixed ``LABELLOOP_INFERENCE_``."""

from __future__ import annotations

from labelloop import WorkerSettings
from pydantic_settings import SettingsConfigDict


class InferenceSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_INFERENCE_", extra="ignore", frozen=True)
