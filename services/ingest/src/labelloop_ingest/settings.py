"""ingest settings: environment variables prefixed ``LABELLOOP_INGEST_``."""

from __future__ import annotations

from pathlib import Path

from labelloop import WorkerSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class IngestSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_INGEST_", extra="ignore", frozen=True)

    concurrency: int = Field(default=2, ge=1, le=64, description="Uploads decoded at once (decoding is CPU-bound).")
    default_fps: float = Field(default=1.0, gt=0, description="Frames per second sampled when an upload says nothing.")
    jpeg_quality: int = Field(default=90, ge=1, le=100, description="Quality of the frame JPEGs.")
    frames_per_event: int = Field(default=16, ge=1, le=500, description="Frames per FramesExtracted event.")
    max_pixels: int = Field(default=40_000_000, ge=1, description="Largest accepted width x height.")
    max_frames: int = Field(default=20_000, ge=1, description="Most frames sampled from one clip.")
    max_object_bytes: int = Field(default=20 * 1024**3, ge=1, description="Largest accepted upload.")
    upload_workers: int = Field(default=8, ge=1, le=64, description="Threads encoding and uploading frames.")
    work_dir: Path | None = Field(default=None, description="Where uploads are downloaded to; default: system temp.")
