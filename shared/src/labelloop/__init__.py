"""Labelloop's shared library: what every service imports.

The public API is re-exported here; modules starting with ``_`` are private.
"""

from labelloop.aws import AwsClients
from labelloop.dispatch import Dispatcher, Handler
from labelloop.envelope import parse_body
from labelloop.errors import (
    AlreadyInProgressError,
    LabelloopError,
    MalformedMessageError,
    PermanentError,
    RetryableError,
    UnknownEventError,
)
from labelloop.events import (
    EVENT_MODELS,
    AutoAccepted,
    AutoAcceptedBatch,
    Box,
    Event,
    FramePredictions,
    FrameRef,
    FramesExtracted,
    HumanReviewRequested,
    Keypoint,
    LabelingOutput,
    LabelsCompleted,
    Message,
    ModelPromoted,
    Person,
    PredictionsReady,
    S3ObjectCreated,
    Taxonomy,
    ThresholdChanged,
    deterministic_id,
    new_event_id,
    utc_now,
)
from labelloop.exit_codes import ExitCode
from labelloop.idempotency import Claim, IdempotencyStore
from labelloop.logs import configure_logging, get_logger
from labelloop.publisher import EventPublisher
from labelloop.service import ServiceContext, ServiceDefinition, build_worker, run_service
from labelloop.settings import ServiceSettings, WorkerSettings
from labelloop.topology import SERVICES, TOPOLOGY, StackNames, Topology
from labelloop.worker import DEAD_LETTER_REASON, Outcome, Periodic, ReceivedMessage, Worker, dead_letter_attributes

__version__ = "0.1.0"

__all__ = [
    "DEAD_LETTER_REASON",
    "dead_letter_attributes",
    "EVENT_MODELS",
    "SERVICES",
    "TOPOLOGY",
    "AlreadyInProgressError",
    "AutoAccepted",
    "AutoAcceptedBatch",
    "AwsClients",
    "Box",
    "Claim",
    "Dispatcher",
    "Event",
    "EventPublisher",
    "ExitCode",
    "FramePredictions",
    "FrameRef",
    "FramesExtracted",
    "Handler",
    "HumanReviewRequested",
    "IdempotencyStore",
    "Keypoint",
    "LabelloopError",
    "LabelsCompleted",
    "MalformedMessageError",
    "Message",
    "ModelPromoted",
    "ThresholdChanged",
    "Outcome",
    "PermanentError",
    "Person",
    "PredictionsReady",
    "Periodic",
    "ReceivedMessage",
    "RetryableError",
    "LabelingOutput",
    "S3ObjectCreated",
    "ServiceContext",
    "ServiceDefinition",
    "ServiceSettings",
    "StackNames",
    "Taxonomy",
    "Topology",
    "UnknownEventError",
    "Worker",
    "WorkerSettings",
    "build_worker",
    "configure_logging",
    "deterministic_id",
    "get_logger",
    "new_event_id",
    "parse_body",
    "run_service",
    "utc_now",
]
