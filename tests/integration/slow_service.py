"""A service for the SIGTERM tests: the production entry path (run_service) with a slow handler.

Run as ``python -m tests.integration.slow_service``; it consumes the trainer queue. The handler
writes ``started/<event_id>`` to the data bucket, sleeps ``LABELLOOP_TRAINER_HANDLER_SLEEP_S``,
then writes ``done/<event_id>``, so a test can see where a signal interrupted it.
"""

from __future__ import annotations

import time

from labelloop import LabelsCompleted, ServiceContext, ServiceDefinition, WorkerSettings, run_service
from pydantic_settings import SettingsConfigDict


class SlowSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_TRAINER_", extra="ignore", frozen=True)
    handler_sleep_s: float = 0.0


def handle_labels_completed(event: LabelsCompleted, deps: ServiceContext[SlowSettings]) -> None:
    bucket = deps.names.physical("data")
    deps.clients.s3.put_object(Bucket=bucket, Key=f"started/{event.event_id}", Body=b"")
    time.sleep(deps.settings.handler_sleep_s)
    deps.clients.s3.put_object(Bucket=bucket, Key=f"done/{event.event_id}", Body=b"")


SERVICE = ServiceDefinition(
    name="trainer",
    settings=SlowSettings,
    build_deps=ServiceContext,
    handlers={LabelsCompleted: handle_labels_completed},
)

if __name__ == "__main__":
    raise SystemExit(run_service(SERVICE))
