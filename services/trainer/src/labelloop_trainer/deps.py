"""What the trainer's handlers, scheduler and rounds receive: built once by the entrypoint."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop import AwsClients, EventPublisher
from labelloop.model_registry import Registry

from labelloop_trainer.settings import TrainerSettings


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: TrainerSettings
    publisher: EventPublisher
    registry: Registry
    data_bucket: str
    models_bucket: str
