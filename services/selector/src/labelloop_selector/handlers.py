"""selector handlers: one plain function per event, registered in ``HANDLERS``.

Minimal worker from the foundation issue: it validates and logs each PredictionsReady; the
service's own issue replaces this with the real work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labelloop import PredictionsReady, get_logger

if TYPE_CHECKING:
    from labelloop.dispatch import Handler

log = get_logger()


def handle_predictions_ready(event: PredictionsReady, deps: Any) -> None:
    """Predictions to judge."""
    log.info("selector.received", placeholder=True)


HANDLERS: dict[type[Any], Handler[Any]] = {PredictionsReady: handle_predictions_ready}
