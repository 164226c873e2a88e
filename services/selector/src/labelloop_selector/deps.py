"""What the selector's handlers receive: built once by the entrypoint, passed to every handler."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop import AwsClients, EventPublisher

from labelloop_selector.calibration_store import CalibrationStore
from labelloop_selector.policy import Policy
from labelloop_selector.scoring import Scorer, ScoringContext
from labelloop_selector.settings import SelectorSettings
from labelloop_selector.state import Budgets, SelectorState


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: SelectorSettings
    publisher: EventPublisher
    scorer: Scorer
    context: ScoringContext
    policy: Policy
    budgets: Budgets
    state: SelectorState
    calibrations: CalibrationStore
    data_bucket: str
