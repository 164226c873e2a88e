"""Wiring of the ingest service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop import AwsClients, ServiceDefinition, StackNames, run_service

from labelloop_ingest import handlers
from labelloop_ingest.settings import IngestSettings


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: IngestSettings
    names: StackNames


def bootstrap(clients: AwsClients, settings: IngestSettings, names: StackNames) -> Deps:
    return Deps(clients=clients, settings=settings, names=names)


SERVICE = ServiceDefinition(name="ingest", settings=IngestSettings, bootstrap=bootstrap, handlers=handlers.HANDLERS)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
