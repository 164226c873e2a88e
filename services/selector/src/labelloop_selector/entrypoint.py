"""Wiring of the selector service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from labelloop import ServiceContext, ServiceDefinition, run_service

from labelloop_selector import handlers
from labelloop_selector.settings import SelectorSettings

SERVICE = ServiceDefinition(
    name="selector", settings=SelectorSettings, bootstrap=ServiceContext, handlers=handlers.HANDLERS
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
