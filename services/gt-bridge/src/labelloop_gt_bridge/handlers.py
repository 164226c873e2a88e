"""gt-bridge handlers: one plain function per event, registered in ``HANDLERS``.

Minimal worker from the foundation issue: it validates and logs each HumanReviewRequested; the
service's own issue replaces this with the real work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labelloop import HumanReviewRequested, get_logger

if TYPE_CHECKING:
    from labelloop.dispatch import Handler

log = get_logger()


def handle_human_review_requested(event: HumanReviewRequested, deps: Any) -> None:
    """Frames people should label."""
    log.info("gt-bridge.received", placeholder=True)


HANDLERS: dict[type[Any], Handler[Any]] = {HumanReviewRequested: handle_human_review_requested}
