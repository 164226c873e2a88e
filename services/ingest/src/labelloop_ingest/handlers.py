"""ingest handlers: one plain function per event, registered in ``HANDLERS``.

Minimal worker from the foundation issue: it validates and logs each S3ObjectCreated; the
service's own issue replaces this with the real work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labelloop import S3ObjectCreated, get_logger

if TYPE_CHECKING:
    from labelloop.dispatch import Handler

log = get_logger()


def handle_s3_object_created(event: S3ObjectCreated, deps: Any) -> None:
    """Clips/images uploaded to the input bucket."""
    log.info("ingest.received", placeholder=True)


HANDLERS: dict[type[Any], Handler[Any]] = {S3ObjectCreated: handle_s3_object_created}
