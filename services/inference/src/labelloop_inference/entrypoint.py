"""Wiring of the inference service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from labelloop import AwsClients, EventPublisher, ServiceDefinition, StackNames, run_service
from labelloop.visibility import Thresholds

from labelloop_inference import handlers
from labelloop_inference.settings import InferenceSettings
from labelloop_inference.triton import ModelServer, ServingVersions, TritonModels

MODELS = ("pose_main", "pose_visible", "head")


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: InferenceSettings
    publisher: EventPublisher
    models: ModelServer
    versions: ServingVersions
    thresholds: Thresholds
    fetch_pool: ThreadPoolExecutor


def bootstrap(clients: AwsClients, settings: InferenceSettings, names: StackNames) -> Deps:
    models = TritonModels(settings.triton_url, timeout_s=settings.triton_timeout_s)
    return Deps(
        clients=clients,
        settings=settings,
        publisher=EventPublisher.for_stack(clients, names),
        models=models,
        versions=ServingVersions(models, MODELS, refresh_s=settings.version_refresh_s),
        thresholds=Thresholds(main=settings.t_main, visible=settings.t_vis),
        fetch_pool=ThreadPoolExecutor(max_workers=settings.fetch_workers, thread_name_prefix="fetch"),
    )


SERVICE = ServiceDefinition(
    name="inference", settings=InferenceSettings, bootstrap=bootstrap, handlers=handlers.HANDLERS
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
