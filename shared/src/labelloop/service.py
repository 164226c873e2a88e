"""``run_service``: the one entrypoint shape every service uses.

settings → logging → AWS clients → the service's own ``build_deps(clients, settings, names)`` →
dispatcher with idempotency → worker with SIGTERM handling (or, for a service without a queue of
its own, the same lifecycle with its periodic work only). Nothing is created at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from labelloop.aws import AwsClients
from labelloop.dispatch import Dispatcher, Handler
from labelloop.errors import PermanentError
from labelloop.events import Message
from labelloop.exit_codes import ExitCode
from labelloop.gc_tuning import tune_for_throughput
from labelloop.idempotency import IdempotencyStore
from labelloop.logs import configure_logging, get_logger
from labelloop.settings import WorkerSettings
from labelloop.topology import TOPOLOGY, StackNames
from labelloop.worker import Lifecycle, Periodic, Worker

S = TypeVar("S", bound=WorkerSettings)
D = TypeVar("D")

log = get_logger()


@dataclass(frozen=True)
class ServiceContext(Generic[S]):
    """The dependencies every service starts from; pass the class itself as ``build_deps`` when a
    service needs nothing more, or build a richer ``Deps`` from it."""

    clients: AwsClients
    settings: S
    names: StackNames


@dataclass(frozen=True)
class ServiceDefinition(Generic[S, D]):
    """What a service contributes: its name, settings class, dependency wiring and handlers."""

    name: str
    settings: type[S]
    build_deps: Callable[[AwsClients, S, StackNames], D]
    handlers: Mapping[type[Message], Handler[D]]
    periodic: Callable[[D], tuple[Periodic, ...]] = lambda _deps: ()
    """Timed work of the service, built from its dependencies; runs while its worker runs."""
    start: Callable[[D], Callable[[], None]] = lambda _deps: lambda: None
    """What the service starts beside its worker (the portal's web page); returns how to stop it."""
    idempotent_handlers: bool = False
    """Its handlers are idempotent by construction, under concurrency too (every effect is keyed by
    the input and guarded by its own conditional writes): the runtime then skips its per-event claim,
    two DynamoDB writes a message, and a redelivered event simply runs again to the same effect."""

    @property
    def consumes_queue(self) -> bool:
        """A service with handlers consumes its own queue; one without (the portal) runs periodic work only."""
        return bool(self.handlers)


def build_worker(definition: ServiceDefinition[S, D], settings: S, clients: AwsClients) -> Worker:
    """Wire a service's worker from its settings (exposed for tests, which run it in-process)."""
    return _worker(definition, settings, clients, definition.build_deps(clients, settings, StackNames(settings.stack)))


def _lifecycle(definition: ServiceDefinition[S, D], settings: S, clients: AwsClients, deps: D) -> Lifecycle:
    """A worker on the service's queue, or for a service without one the same lifecycle, periodic work only."""
    if definition.consumes_queue:
        return _worker(definition, settings, clients, deps)
    return Lifecycle(drain_timeout_s=settings.drain_timeout_s, periodic=definition.periodic(deps))


def _worker(definition: ServiceDefinition[S, D], settings: S, clients: AwsClients, deps: D) -> Worker:
    names = StackNames(settings.stack)
    queue = TOPOLOGY.queue_for(definition.name)
    queue_url = clients.sqs.get_queue_url(QueueName=names.physical(queue.name))["QueueUrl"]
    # The lease outlives two heartbeats (each renews it), and frees a crashed worker's events soon
    # after its messages come back: both follow the queue's own visibility timeout, as provisioned.
    visibility_s = int(clients.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])
                       ["Attributes"]["VisibilityTimeout"])  # fmt: skip
    idempotency = (
        None
        if definition.idempotent_handlers
        else IdempotencyStore(
            clients.dynamodb, names.physical("idempotency"), ttl_s=settings.idempotency_ttl_s, lease_s=2 * visibility_s
        )
    )
    dispatcher = Dispatcher(service=definition.name, handlers=definition.handlers, deps=deps, idempotency=idempotency)
    return Worker(
        sqs=clients.sqs,
        queue_url=queue_url,
        handle=dispatcher,
        concurrency=settings.concurrency,
        poll_wait_s=settings.poll_wait_s,
        drain_timeout_s=settings.drain_timeout_s,
        periodic=definition.periodic(deps),
    )


def run_service(definition: ServiceDefinition[S, D]) -> int:
    """Run a service until SIGTERM/SIGINT; returns a process exit code."""
    try:
        settings = definition.settings()
    except ValidationError as error:
        configure_logging(service=definition.name)
        log.error("service.invalid_settings", errors=error.errors(include_url=False))
        return ExitCode.CONFIG
    configure_logging(service=definition.name, level=settings.log_level, log_format=settings.log_format)
    clients = AwsClients(
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
        max_pool_connections=settings.concurrency + 8,
    )
    try:
        deps = definition.build_deps(clients, settings, StackNames(settings.stack))
        lifecycle = _lifecycle(definition, settings, clients, deps)
        lifecycle.install_signal_handlers()
        stop_extras = definition.start(deps)
        tune_for_throughput()  # everything long-lived is loaded by now
        try:
            lifecycle.run()
        finally:
            stop_extras()
    except PermanentError as error:
        log.error("service.misconfigured", reason=error.reason)
        return ExitCode.CONFIG
    except ClientError as error:
        log.error("service.stack_missing", error=str(error), hint="run `labelloop provision` or `labelloop up`")
        return ExitCode.CONFIG
    except BotoCoreError as error:
        log.error("service.endpoint_unreachable", error=str(error))
        return ExitCode.UNAVAILABLE
    return ExitCode.OK
