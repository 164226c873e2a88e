"""Wiring of the inference service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from labelloop import ServiceContext, ServiceDefinition, run_service

from labelloop_inference import handlers
from labelloop_inference.settings import InferenceSettings

SERVICE = ServiceDefinition(
    name="inference", settings=InferenceSettings, bootstrap=ServiceContext, handlers=handlers.HANDLERS
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
