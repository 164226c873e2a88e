"""selector settings: environment variables prefixed ``LABELLOOP_SELECTOR_``."""

from __future__ import annotations

from labelloop import WorkerSettings
from pydantic_settings import SettingsConfigDict


class SelectorSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_SELECTOR_", extra="ignore", frozen=True)
