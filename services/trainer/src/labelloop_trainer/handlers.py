"""trainer handlers: one plain function per event, registered in ``HANDLERS``.

Minimal worker from the foundation issue: it validates and logs each LabelsCompleted; the
service's own issue replaces this with the real work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labelloop import LabelsCompleted, get_logger

if TYPE_CHECKING:
    from labelloop.dispatch import Handler

log = get_logger()


def handle_labels_completed(event: LabelsCompleted, deps: Any) -> None:
    """Human labels that count towards the next training."""
    log.info("trainer.received", placeholder=True)


HANDLERS: dict[type[Any], Handler[Any]] = {LabelsCompleted: handle_labels_completed}
