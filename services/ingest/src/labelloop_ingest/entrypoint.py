"""Wiring of the ingest service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from labelloop import ServiceContext, ServiceDefinition, run_service

from labelloop_ingest import handlers
from labelloop_ingest.settings import IngestSettings

SERVICE = ServiceDefinition(
    name="ingest", settings=IngestSettings, bootstrap=ServiceContext, handlers=handlers.HANDLERS
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
