"""Wiring of the gt-bridge service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop import AwsClients, ServiceDefinition, StackNames, run_service

from labelloop_gt_bridge import handlers
from labelloop_gt_bridge.settings import GtBridgeSettings


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: GtBridgeSettings
    names: StackNames


def bootstrap(clients: AwsClients, settings: GtBridgeSettings, names: StackNames) -> Deps:
    return Deps(clients=clients, settings=settings, names=names)


SERVICE = ServiceDefinition(
    name="gt-bridge", settings=GtBridgeSettings, bootstrap=bootstrap, handlers=handlers.HANDLERS
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
