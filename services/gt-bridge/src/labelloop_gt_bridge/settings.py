"""gt-bridge settings: environment variables prefixed ``LABELLOOP_GT_BRIDGE_``."""

from __future__ import annotations

from labelloop import WorkerSettings
from pydantic_settings import SettingsConfigDict


class GtBridgeSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_GT_BRIDGE_", extra="ignore", frozen=True)
