"""ingest settings: environment variables prefixed ``LABELLOOP_INGEST_``."""

from __future__ import annotations

from labelloop import WorkerSettings
from pydantic_settings import SettingsConfigDict


class IngestSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_INGEST_", extra="ignore", frozen=True)
