"""trainer handlers: count human labels; past the threshold, run one training round.

The counter is one atomic ADD; the round runs under a lock with an expiry, so concurrent labels
past the threshold start exactly one training, and a trainer that dies mid-round neither blocks
training forever nor changes what is served. Labels consumed by a round are subtracted only
when it finished, so a crashed round is retried by the next label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labelloop import LabelsCompleted, get_logger

from labelloop_trainer.rounds import run_round

if TYPE_CHECKING:
    from labelloop.dispatch import Handler

    from labelloop_trainer.entrypoint import Deps

log = get_logger()


def handle_labels_completed(event: LabelsCompleted, deps: Deps) -> None:
    """Human labels that count towards the next training."""
    total = deps.registry.add_labels(1)
    if total < deps.settings.threshold:
        log.info("trainer.label_counted", labels=total, threshold=deps.settings.threshold)
        return
    if not deps.registry.acquire(event.event_id, deps.settings.lock_ttl_s):
        log.info("trainer.training_already_running", labels=total)
        return
    try:
        log.info("trainer.training_started", labels=total)
        result = run_round(deps, total)
        deps.registry.add_labels(-total)
        log.info("trainer.training_finished", version=result.version, promoted=result.promoted)
    finally:
        deps.registry.release(event.event_id)


HANDLERS: dict[type[Any], Handler[Any]] = {LabelsCompleted: handle_labels_completed}
