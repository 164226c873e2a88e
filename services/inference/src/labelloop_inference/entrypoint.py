"""Wiring of the inference service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop import AwsClients, ServiceDefinition, StackNames, run_service

from labelloop_inference import handlers
from labelloop_inference.settings import InferenceSettings


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: InferenceSettings
    names: StackNames


def bootstrap(clients: AwsClients, settings: InferenceSettings, names: StackNames) -> Deps:
    return Deps(clients=clients, settings=settings, names=names)


SERVICE = ServiceDefinition(
    name="inference", settings=InferenceSettings, bootstrap=bootstrap, handlers=handlers.HANDLERS
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
