"""Wiring of the selector service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop import AwsClients, ServiceDefinition, StackNames, run_service

from labelloop_selector import handlers
from labelloop_selector.settings import SelectorSettings


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: SelectorSettings
    names: StackNames


def bootstrap(clients: AwsClients, settings: SelectorSettings, names: StackNames) -> Deps:
    return Deps(clients=clients, settings=settings, names=names)


SERVICE = ServiceDefinition(name="selector", settings=SelectorSettings, bootstrap=bootstrap, handlers=handlers.HANDLERS)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
