"""Wiring of the gt-bridge service: dependencies, handler registry, sweeper, process entry point."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labelloop import (
    TOPOLOGY,
    AwsClients,
    EventPublisher,
    Periodic,
    ServiceDefinition,
    StackNames,
    get_logger,
    run_service,
)
from labelloop.clock import Clock, clock_from_env
from labelloop.groundtruth import JobSpec
from labelloop.labeling_state import LabelingState
from labelloop.model_registry import Registry
from labelloop.retry import RetryPolicy
from labelloop.rig import COCO17, Rig
from labelloop.s3_uri import s3_uri

from labelloop_gt_bridge import handlers
from labelloop_gt_bridge.backends import LabelingBackend, PortalBackend
from labelloop_gt_bridge.deps import Deps
from labelloop_gt_bridge.ground_truth import GroundTruthBackend
from labelloop_gt_bridge.jobs import JobManager
from labelloop_gt_bridge.settings import GtBridgeSettings

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import DimensionTypeDef

log = get_logger()


def job_specs(settings: GtBridgeSettings) -> tuple[JobSpec, ...]:
    return tuple(JobSpec(m, 1) for m in settings.modalities) + tuple(JobSpec(m, 2) for m in settings.level2)


def serving_rig(registry: Registry) -> Rig:
    """The rig of the set inference serves (COCO-17, the default set's, before any is installed)."""
    serving = registry.serving_set()
    return serving[1].rig if serving else COCO17


def build_deps_on(clients: AwsClients, settings: GtBridgeSettings, names: StackNames, clock: Clock) -> Deps:
    """The dependencies on ``clock`` (tests pass a manual one), without touching any labeling job."""
    backend: LabelingBackend
    if settings.backend in ("portal", "label-studio"):
        backend = PortalBackend(clients.dynamodb, names.physical("portal"), settings)
    else:
        registry = Registry(clients.dynamodb, names.physical("models"))
        backend = GroundTruthBackend(clients.sagemaker, clients.s3, settings, lambda: serving_rig(registry))
    queue = TOPOLOGY.queue_for("gt-bridge")
    state = LabelingState(clients.dynamodb, names.physical("labeling"))
    jobs = JobManager(
        clients=clients,
        names=names,
        state=state,
        backend=backend,
        specs=job_specs(settings),
        own_queue_url=clients.sqs.get_queue_url(QueueName=names.physical(queue.name))["QueueUrl"],
        output_s3_uri=s3_uri(names.physical("data"), "labeling"),
        replace_policy=RetryPolicy(
            initial_s=settings.job_replace_after_s, multiplier=4.0, max_s=max(settings.job_replace_after_s, 6 * 3600.0)
        ),
        max_replacements=settings.job_max_replacements,
        on_failure=lambda spec_key: count_failed_job(clients, names, spec_key),
        topic_kms_key=settings.topic_kms_key,
    )
    return Deps(
        clients=clients,
        settings=settings,
        publisher=EventPublisher.for_stack(clients, names),
        state=state,
        jobs=jobs,
        clock=clock,
        data_bucket=names.physical("data"),
    )


FAILED_JOB_METRIC = ("Labelloop", "LabelingJobFailed")
"""Namespace and name of the metric the stack's alarm watches: a labeling job given up on."""


def count_failed_job(clients: AwsClients, names: StackNames, spec_key: str) -> None:
    """One count per stack (what the alarm watches) and one per stack and job (which one)."""
    namespace, metric = FAILED_JOB_METRIC
    stack: DimensionTypeDef = {"Name": "Stack", "Value": names.stack}
    job: DimensionTypeDef = {"Name": "Job", "Value": spec_key}
    clients.cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": metric, "Value": 1.0, "Unit": "Count", "Dimensions": dimensions}
        for dimensions in ([stack], [stack, job])
    ])  # fmt: skip


def periodic(deps: Deps) -> tuple[Periodic, ...]:
    """Resends and job checks every ``sweep_every_s``."""
    return (Periodic("gt-bridge-sweeper", deps.settings.sweep_every_s, lambda: handlers.sweep(deps)),)


def build_deps(clients: AwsClients, settings: GtBridgeSettings, names: StackNames) -> Deps:
    """The service's dependencies, with every configured labeling job live before the first message."""
    deps = build_deps_on(clients, settings, names, clock_from_env())
    for spec in deps.jobs.specs.values():
        deps.jobs.ensure(spec, deps.clock.now())
    return deps


SERVICE = ServiceDefinition(
    name="gt-bridge", settings=GtBridgeSettings, build_deps=build_deps, handlers=handlers.HANDLERS, periodic=periodic
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
