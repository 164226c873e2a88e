"""Wiring of the selector service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from typing import Any

from labelloop import (
    AwsClients,
    EventPublisher,
    LabelsCompleted,
    PredictionsReady,
    ServiceDefinition,
    StackNames,
    run_service,
)
from labelloop.dispatch import Handler

from labelloop_selector import audits, handlers
from labelloop_selector.calibration_store import CalibrationStore
from labelloop_selector.deps import Deps
from labelloop_selector.policy import Policy
from labelloop_selector.scoring import ScoringContext, load_scorer
from labelloop_selector.settings import SelectorSettings
from labelloop_selector.state import Budgets, SelectorState


def build_deps(clients: AwsClients, settings: SelectorSettings, names: StackNames) -> Deps:
    return Deps(
        clients=clients,
        settings=settings,
        publisher=EventPublisher.for_stack(clients, names),
        scorer=load_scorer(settings.strategy),
        context=ScoringContext(
            t_main=settings.t_main,
            t_vis=settings.t_vis,
            aggregate=settings.aggregate,
            empty_frame_score=settings.empty_frame_score,
            committee_scale=settings.committee_scale,
            temporal_scale=settings.temporal_scale,
        ),
        policy=Policy(
            control_fraction=settings.control_fraction,
            control_seed=settings.control_seed,
            near_duplicate_distance=settings.near_duplicate_distance,
        ),
        budgets=Budgets(per_clip=settings.max_human_per_clip, per_hour=settings.max_human_per_hour),
        state=SelectorState(clients.dynamodb, names.physical("selector-state")),
        calibrations=CalibrationStore(
            clients.dynamodb,
            names.physical("selector-state"),
            fixed_threshold=None if settings.targets else settings.threshold,
            refresh_s=settings.calibration_refresh_s,
        ),
        data_bucket=names.physical("data"),
    )


HANDLERS: dict[type[Any], Handler[Any]] = {
    PredictionsReady: handlers.handle_predictions_ready,
    LabelsCompleted: audits.handle_labels_completed,
}

SERVICE = ServiceDefinition(
    name="selector",
    settings=SelectorSettings,
    build_deps=build_deps,
    handlers=HANDLERS,
    # A batch judged again finds its decisions stored (first one wins, budgets refunded) and rewrites
    # the same manifest object and event ids; an audit recorded again writes the same item and its
    # calibration is conditional: the runtime's claim would only add two writes to every message.
    idempotent_handlers=True,
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
