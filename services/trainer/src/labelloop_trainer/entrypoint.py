"""Wiring of the trainer service: dependencies, handler registry, training scheduler, process entry point."""

from __future__ import annotations

import atexit
import os
import socket
import uuid

from botocore.exceptions import BotoCoreError, ClientError
from labelloop import AwsClients, EventPublisher, Periodic, ServiceDefinition, StackNames, get_logger, run_service
from labelloop.model_registry import Registry

from labelloop_trainer import handlers
from labelloop_trainer.deps import Deps
from labelloop_trainer.settings import TrainerSettings

log = get_logger()


def periodic(deps: Deps) -> tuple[Periodic, ...]:
    """The scheduler: every ``check_every_s``, a training round if one is due (run on its thread)."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def release_lock() -> None:
        # A stopped trainer gives its lock back at once; only a killed one leaves it to expire.
        try:
            deps.registry.release(owner)
        except (BotoCoreError, ClientError) as error:  # the endpoint went first: the lock's expiry frees it
            log.warning("trainer.lock_not_released", error=str(error))

    atexit.register(release_lock)
    return (Periodic("trainer-scheduler", deps.settings.check_every_s, lambda: handlers.train_when_due(deps, owner)),)


def build_deps(clients: AwsClients, settings: TrainerSettings, names: StackNames) -> Deps:
    return Deps(
        clients=clients,
        settings=settings,
        publisher=EventPublisher.for_stack(clients, names),
        registry=Registry(clients.dynamodb, names.physical("models")),
        data_bucket=names.physical("data"),
        models_bucket=names.physical("models"),
    )


SERVICE = ServiceDefinition(
    name="trainer", settings=TrainerSettings, build_deps=build_deps, handlers=handlers.HANDLERS, periodic=periodic
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
