"""What inference's handlers receive: built once by the entrypoint, passed to every handler."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from labelloop import AwsClients, EventPublisher
from labelloop.retry import RetryPolicy
from labelloop.visibility import Thresholds

from labelloop_inference.settings import InferenceSettings
from labelloop_inference.triton import ModelServer, ServingSet


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: InferenceSettings
    data_bucket: str
    publisher: EventPublisher
    models: ModelServer
    serving: ServingSet
    thresholds: Thresholds
    fetch_pool: ThreadPoolExecutor
    triton_retry: RetryPolicy
    """How a batch waits for a Triton that is down or restarting, before the worker's redelivery takes over."""
