"""What gt-bridge's handlers and sweeper receive: built once by the entrypoint."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop import AwsClients, EventPublisher
from labelloop.clock import Clock
from labelloop.labeling_state import LabelingState

from labelloop_gt_bridge.jobs import JobManager
from labelloop_gt_bridge.settings import GtBridgeSettings


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: GtBridgeSettings
    publisher: EventPublisher
    state: LabelingState
    jobs: JobManager
    clock: Clock
    data_bucket: str
