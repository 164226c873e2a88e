"""trainer handlers: count human labels; once a burst of them has settled, run one training round.

Counting is one atomic ADD per LabelsCompleted. Training is not started by the message that
crosses the threshold: a frame sent to people brings a label per modality and level, and a
batch of frames brings them in a burst, so the round would train on the first few and leave the
rest waiting for a label that may never come. Instead :func:`train_when_due` (run every
``check_every_s`` by the scheduler in entrypoint.py) trains when the counter has reached the
threshold *and* no label arrived for ``settle_s``. The round runs under a lock with an expiry,
so replicas train one at a time and a trainer that dies mid-round neither blocks training
forever nor changes what is served; the labels a round consumed are subtracted only when it
finished, so a crashed round is retried.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from labelloop import LabelsCompleted, get_logger

from labelloop_trainer.rounds import RoundResult, run_round

if TYPE_CHECKING:
    from labelloop.dispatch import Handler

    from labelloop_trainer.deps import Deps

log = get_logger()


def handle_labels_completed(event: LabelsCompleted, deps: Deps) -> None:
    """Human labels that count towards the next training."""
    total = deps.registry.add_labels(1, arrived_at=time.time())
    log.info("trainer.label_counted", labels=total, threshold=deps.settings.threshold, frame=event.frame.uri)


def train_when_due(deps: Deps, owner: str, now: float | None = None) -> RoundResult | None:
    """One training round if enough labels have arrived and settled; None if not due or already running."""
    now = time.time() if now is None else now
    labels, last_at = deps.registry.label_state()
    if labels < deps.settings.threshold or now - last_at < deps.settings.settle_s:
        return None
    if not deps.registry.acquire(owner, deps.settings.lock_ttl_s, now):
        log.info("trainer.training_already_running", labels=labels)
        return None
    try:
        log.info("trainer.training_started", labels=labels)
        result = run_round(deps, labels)
        # Counted off even when the round was skipped: the labels stay in dataset/ for the next round
        # that can train, and the trigger waits for the next threshold instead of retrying every check.
        deps.registry.add_labels(-labels)
        if result is not None:
            log.info("trainer.training_finished", version=result.version, promoted=result.promoted)
        return result
    finally:
        deps.registry.release(owner)


HANDLERS: dict[type[Any], Handler[Any]] = {LabelsCompleted: handle_labels_completed}
