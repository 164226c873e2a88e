"""Wiring of the ingest service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from labelloop import AwsClients, EventPublisher, ServiceDefinition, StackNames, run_service

from labelloop_ingest import handlers
from labelloop_ingest.deps import Deps
from labelloop_ingest.settings import IngestSettings


def build_deps(clients: AwsClients, settings: IngestSettings, names: StackNames) -> Deps:
    return Deps(
        clients=clients,
        settings=settings,
        publisher=EventPublisher.for_stack(clients, names),
        uploads_bucket=names.physical("uploads"),
        data_bucket=names.physical("data"),
    )


SERVICE = ServiceDefinition(name="ingest", settings=IngestSettings, build_deps=build_deps, handlers=handlers.HANDLERS)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
