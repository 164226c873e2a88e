"""inference handlers: one plain function per event, registered in ``HANDLERS``.

Minimal worker from the foundation issue: it validates and logs each event; the inference
issue replaces this with Triton calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labelloop import FramesExtracted, ModelPromoted, get_logger

if TYPE_CHECKING:
    from labelloop.dispatch import Handler

log = get_logger()


def handle_frames_extracted(event: FramesExtracted, deps: Any) -> None:
    """Frames to run the models on."""
    log.info("inference.received", placeholder=True, frames=len(event.frames))


def handle_model_promoted(event: ModelPromoted, deps: Any) -> None:
    """A new model version to serve."""
    log.info("inference.model_promoted", placeholder=True, model=event.model_name, model_version=event.model_version)


HANDLERS: dict[type[Any], Handler[Any]] = {
    FramesExtracted: handle_frames_extracted,
    ModelPromoted: handle_model_promoted,
}
