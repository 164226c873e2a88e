"""Wiring of the selector service: dependencies, handler registry, process entry point."""

from __future__ import annotations

from labelloop import AwsClients, EventPublisher, ServiceDefinition, StackNames, run_service

from labelloop_selector import handlers
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
        ),
        policy=Policy(
            threshold=settings.threshold,
            control_fraction=settings.control_fraction,
            control_seed=settings.control_seed,
            near_duplicate_distance=settings.near_duplicate_distance,
        ),
        budgets=Budgets(per_clip=settings.max_human_per_clip, per_hour=settings.max_human_per_hour),
        state=SelectorState(clients.dynamodb, names.physical("selector-state")),
        data_bucket=names.physical("data"),
    )


SERVICE = ServiceDefinition(
    name="selector", settings=SelectorSettings, build_deps=build_deps, handlers=handlers.HANDLERS
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
