"""Wiring of the trainer service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop import AwsClients, ServiceDefinition, StackNames, run_service

from labelloop_trainer import handlers
from labelloop_trainer.settings import TrainerSettings


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: TrainerSettings
    names: StackNames


def bootstrap(clients: AwsClients, settings: TrainerSettings, names: StackNames) -> Deps:
    return Deps(clients=clients, settings=settings, names=names)


SERVICE = ServiceDefinition(name="trainer", settings=TrainerSettings, bootstrap=bootstrap, handlers=handlers.HANDLERS)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
