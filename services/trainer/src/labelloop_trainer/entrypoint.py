"""Wiring of the trainer service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from labelloop import ServiceContext, ServiceDefinition, run_service

from labelloop_trainer import handlers
from labelloop_trainer.settings import TrainerSettings

SERVICE = ServiceDefinition(
    name="trainer", settings=TrainerSettings, bootstrap=ServiceContext, handlers=handlers.HANDLERS
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
