"""Wiring of the ingest service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop import AwsClients, EventPublisher, ServiceDefinition, StackNames, run_service

from labelloop_ingest import handlers
from labelloop_ingest.settings import IngestSettings


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: IngestSettings
    publisher: EventPublisher
    uploads_bucket: str
    data_bucket: str


def bootstrap(clients: AwsClients, settings: IngestSettings, names: StackNames) -> Deps:
    return Deps(
        clients=clients,
        settings=settings,
        publisher=EventPublisher.for_stack(clients, names),
        uploads_bucket=names.physical("uploads"),
        data_bucket=names.physical("data"),
    )


SERVICE = ServiceDefinition(name="ingest", settings=IngestSettings, bootstrap=bootstrap, handlers=handlers.HANDLERS)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
