"""A service for the SIGTERM tests: the production entry path (run_service) with a slow handler.

Run as ``python -m tests.integration.slow_service``; it consumes the trainer queue. The handler
writes ``started/<event_id>`` to the data bucket, sleeps ``LABELLOOP_TRAINER_HANDLER_SLEEP_S``,
then writes ``done/<event_id>``, so a test can see where a signal interrupted it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from labelloop import AwsClients, LabelsCompleted, ServiceDefinition, StackNames, WorkerSettings, run_service
from pydantic_settings import SettingsConfigDict


class SlowSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="LABELLOOP_TRAINER_", extra="ignore", frozen=True)
    handler_sleep_s: float = 0.0


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    bucket: str
    sleep_s: float


def bootstrap(clients: AwsClients, settings: SlowSettings, names: StackNames) -> Deps:
    return Deps(clients, names.physical("data"), settings.handler_sleep_s)


def handle_labels_completed(event: LabelsCompleted, deps: Deps) -> None:
    deps.clients.s3.put_object(Bucket=deps.bucket, Key=f"started/{event.event_id}", Body=b"")
    time.sleep(deps.sleep_s)
    deps.clients.s3.put_object(Bucket=deps.bucket, Key=f"done/{event.event_id}", Body=b"")


SERVICE = ServiceDefinition(
    name="trainer", settings=SlowSettings, bootstrap=bootstrap, handlers={LabelsCompleted: handle_labels_completed}
)

if __name__ == "__main__":
    raise SystemExit(run_service(SERVICE))
