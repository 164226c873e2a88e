"""Wiring of the gt-bridge service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from labelloop import ServiceContext, ServiceDefinition, run_service

from labelloop_gt_bridge import handlers
from labelloop_gt_bridge.settings import GtBridgeSettings

SERVICE = ServiceDefinition(
    name="gt-bridge", settings=GtBridgeSettings, bootstrap=ServiceContext, handlers=handlers.HANDLERS
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
