"""Wiring of the trainer service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop import AwsClients, EventPublisher, ServiceDefinition, StackNames, run_service
from labelloop.model_registry import Registry

from labelloop_trainer import handlers
from labelloop_trainer.settings import TrainerSettings


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: TrainerSettings
    publisher: EventPublisher
    registry: Registry
    data_bucket: str
    models_bucket: str


def bootstrap(clients: AwsClients, settings: TrainerSettings, names: StackNames) -> Deps:
    return Deps(
        clients=clients,
        settings=settings,
        publisher=EventPublisher.for_stack(clients, names),
        registry=Registry(clients.dynamodb, names.physical("models")),
        data_bucket=names.physical("data"),
        models_bucket=names.physical("models"),
    )


SERVICE = ServiceDefinition(name="trainer", settings=TrainerSettings, bootstrap=bootstrap, handlers=handlers.HANDLERS)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
