"""What ingest's handlers receive: built once by the entrypoint, passed to every handler."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop import AwsClients, EventPublisher

from labelloop_ingest.settings import IngestSettings


@dataclass(frozen=True)
class Deps:
    clients: AwsClients
    settings: IngestSettings
    publisher: EventPublisher
    uploads_bucket: str
    data_bucket: str
