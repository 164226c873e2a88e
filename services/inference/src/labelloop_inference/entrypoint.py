"""Wiring of the inference service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from labelloop import AwsClients, EventPublisher, Periodic, ServiceDefinition, StackNames, run_service
from labelloop.model_registry import Registry
from labelloop.retry import RetryPolicy
from labelloop.visibility import Thresholds

from labelloop_inference import handlers
from labelloop_inference.clip_order import release_stalled
from labelloop_inference.deps import Deps
from labelloop_inference.settings import InferenceSettings
from labelloop_inference.tracks import load_tracker
from labelloop_inference.triton import ServingSet, TritonModels


def build_deps(clients: AwsClients, settings: InferenceSettings, names: StackNames) -> Deps:
    models = TritonModels(settings.triton_url, timeout_s=settings.triton_timeout_s)
    load_tracker()
    return Deps(
        clients=clients,
        settings=settings,
        data_bucket=names.physical("data"),
        publisher=EventPublisher.for_stack(clients, names),
        models=models,
        serving=ServingSet(
            models, Registry(clients.dynamodb, names.physical("models")), refresh_s=settings.version_refresh_s
        ),
        thresholds=Thresholds(main=settings.t_main, visible=settings.t_vis, single_model_main=settings.t_main_single),
        fetch_pool=ThreadPoolExecutor(max_workers=settings.fetch_workers, thread_name_prefix="fetch"),
        triton_retry=RetryPolicy(initial_s=0.5, multiplier=2.0, max_s=10.0, deadline_s=settings.triton_retry_s),
    )


def periodic(deps: Deps) -> tuple[Periodic, ...]:
    """Clips whose tracking waits for a batch that never came go on without it (clip_order)."""
    settings = deps.settings

    def release() -> int:
        publish = handlers.publisher(deps)
        s3, bucket = deps.clients.s3, deps.data_bucket
        return release_stalled(s3, bucket, settings.tracking_stall_s, publish, settings.tracker())

    return (Periodic("inference-tracking", settings.tracking_sweep_s, release),)


SERVICE = ServiceDefinition(
    name="inference", settings=InferenceSettings, build_deps=build_deps, handlers=handlers.HANDLERS, periodic=periodic
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
