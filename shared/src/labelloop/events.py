"""Versioned event contracts: one pydantic model per arrow of the architecture.

Rules every contract follows (see ARCHITECTURE.md "Events"):

* ``type`` is a ``Literal`` tag and ``version`` is ``Literal[1]``; a breaking change adds a new
  model with ``version: Literal[2]`` instead of editing this one.
* Within a version, fields are only ever *added* (with defaults), so consumers ignore unknown
  fields (``extra="ignore"``) and older consumers keep working.
* ``event_id`` is the idempotency key. Producers derive it deterministically from their input
  (:func:`deterministic_id`) so a redelivered upstream event yields the *same* downstream id and
  the downstream consumer de-duplicates it.
* Events carry S3 URIs, never image bytes.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from labelloop.model_set import ModelName
from labelloop.s3_uri import s3_uri

S3Uri = Annotated[str, StringConstraints(pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/.+$")]
Confidence = Annotated[float, Field(ge=0.0, le=1.0)]
Visibility = Literal["visible", "occluded", "outside"]
Modality = Literal["head", "keypoints"]


def new_event_id() -> str:
    """A random event id, for events with no natural deterministic identity."""
    return uuid.uuid4().hex


def deterministic_id(*parts: object) -> str:
    """An event id derived from ``parts``: the same inputs always give the same id.

    Use it when an event is produced in response to another one, so that at-least-once
    delivery upstream does not turn into duplicates downstream.
    """
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode())
    return digest.hexdigest()[:32]


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC (naive datetimes are rejected by the contracts)."""
    return datetime.now(UTC)


MAX_CLOCK_SKEW_S = 15 * 60
"""How far in the future an event may claim to have happened (clock skew between producers)."""


class Contract(BaseModel):
    """Base of every nested value object: immutable, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(Contract):
    """Fields every event carries. Subclasses narrow ``type`` and ``version`` to literals."""

    type: str
    version: int
    event_id: str = Field(default_factory=new_event_id, min_length=1, max_length=128)
    correlation_id: str = Field(min_length=1, max_length=256, description="The clip or upload.")
    occurred_at: AwareDatetime = Field(default_factory=utc_now)

    @field_validator("occurred_at")
    @classmethod
    def _not_from_the_future(cls, value: datetime) -> datetime:
        # A producer whose clock runs ahead would make its events win every newest-wins choice
        # (dataset lines, serving versions); SigV4 tolerates 15 minutes of skew, so do we.
        ahead = (value - utc_now()).total_seconds()
        if ahead > MAX_CLOCK_SKEW_S:
            raise ValueError(f"occurred_at is {ahead:.0f} s ahead of this clock (clock skew over {MAX_CLOCK_SKEW_S} s)")
        return value


class Taxonomy(Contract):
    """Scene description at drive and clip level (LAVA-style: weather, time_of_day, scene, traffic...)."""

    drive: dict[str, str] = Field(default_factory=dict)
    clip: dict[str, str] = Field(default_factory=dict)


class FrameRef(Contract):
    """One extracted frame stored as a JPEG in S3."""

    uri: S3Uri
    frame_no: int = Field(ge=0)
    timestamp_s: float = Field(ge=0.0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    attributes: dict[str, str] = Field(default_factory=dict, description="Frame-level taxonomy.")


class Box(Contract):
    """An axis-aligned box in pixels, Ground Truth style (left/top/width/height)."""

    left: float
    top: float
    width: float = Field(ge=0.0)
    height: float = Field(ge=0.0)
    confidence: Confidence
    label: str = "head"


class Keypoint(Contract):
    """One rig point with the two model confidences and the visibility decided from them."""

    name: str
    x: float
    y: float
    main_confidence: Confidence
    visible_confidence: Confidence
    visibility: Visibility


class Person(Contract):
    """A detected person: body box plus the rig's keypoints."""

    box: Box
    keypoints: list[Keypoint]
    disagreement: float | None = Field(
        default=None,
        ge=0.0,
        description="Mean distance between pose_main's and pose_visible's points for this person, as a fraction "
        "of the box diagonal: the two models as a committee, high where they localise differently. None when "
        "pose_visible found no matching person.",
    )
    track_id: int | None = Field(
        default=None,
        ge=1,
        description="The same person across the sampled frames of a clip (ByteTrack on the served boxes): equal ids "
        "within one clip are one person. None for a person the tracker did not take (below its lowest score).",
    )
    temporal_change: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="How much this person's keypoints changed since their track's previous sighting, beyond the "
        "box's own motion: per rig point 1 if its visibility changed (flicker, vanishing, appearing), else its "
        "displacement relative to the box over the box diagonal (at most 1); the mean over the rig. Steady "
        "people score near 0. None without a previous sighting.",
    )


class FramePredictions(Contract):
    """Everything the models said about one frame."""

    frame: FrameRef
    heads: list[Box] = Field(default_factory=list)
    persons: list[Person] = Field(default_factory=list)


class S3ObjectCreated(Contract):
    """One S3 ``ObjectCreated`` record, normalised (key already URL-decoded).

    Not a Labelloop event: S3 produces it in AWS's own format; the envelope parser turns each
    record into one of these so handlers see a typed value like any other event.
    """

    type: Literal["S3ObjectCreated"] = "S3ObjectCreated"
    bucket: str
    key: str
    size: int = Field(ge=0)
    etag: str = ""
    version_id: str | None = None
    sequencer: str = ""
    event_time: AwareDatetime | None = None

    @property
    def event_id(self) -> str:
        """Identity of the *object version*, so repeated notifications of one upload dedup."""
        return deterministic_id("s3", self.bucket, self.key, self.version_id or self.etag)

    @property
    def correlation_id(self) -> str:
        return s3_uri(self.bucket, self.key)

    @property
    def uri(self) -> str:
        return s3_uri(self.bucket, self.key)


class LabelingOutput(Contract):
    """One output-manifest line of a labeling job (Ground Truth's format, or the portal's).

    Not a Labelloop event: the labeling backend publishes it to the job's output topic; the
    envelope parser recognises a line by its ``source-ref`` and hands it over as this value.
    """

    type: Literal["LabelingOutput"] = "LabelingOutput"
    line: dict[str, Any]

    @property
    def event_id(self) -> str:
        """One per object send and outcome: a repeated notification de-duplicates."""
        key = self.line.get("dataset-objectid-attribute-name")
        dedup = self.line.get(key) if isinstance(key, str) else None
        outcomes = sorted(k for k in self.line if k.endswith("-metadata"))
        return deterministic_id("labeling-output", dedup or self.line.get("source-ref"), *outcomes)

    @property
    def correlation_id(self) -> str:
        return str(self.line.get("labelloop-object") or self.line.get("source-ref"))


class FramesExtracted(Event):
    """ingest → inference: a batch of frames of one clip (or the single frame of an image)."""

    type: Literal["FramesExtracted"] = "FramesExtracted"
    version: Literal[1] = 1
    clip_id: str
    source_uri: S3Uri
    frames: list[FrameRef] = Field(min_length=1)
    batch_index: int = Field(ge=0)
    batch_count: int = Field(ge=1)
    total_frames: int = Field(ge=1)
    manifest_uri: S3Uri
    taxonomy: Taxonomy = Field(default_factory=Taxonomy)


class PredictionsReady(Event):
    """inference → selector: predictions for a batch of frames, with the model versions used."""

    type: Literal["PredictionsReady"] = "PredictionsReady"
    version: Literal[1] = 1
    clip_id: str
    predictions: list[FramePredictions] = Field(min_length=1)
    model_versions: dict[ModelName, str]
    taxonomy: Taxonomy = Field(default_factory=Taxonomy)
    skeleton: list[tuple[str, str]] = Field(
        default_factory=list, description="The serving set's rig: edges between keypoint names, for drawing."
    )
    keypoint_names: list[str] = Field(
        default_factory=list,
        description="The serving set's rig: its keypoint names in order (what a labelling tool offers to place).",
    )
    track_attributes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="The serving set's rig: what people say once per track (seat, glasses...), with the values.",
    )


class _FrameJudged(Event):
    """What the selector says about one frame, whichever way it decided."""

    clip_id: str
    predictions: FramePredictions
    score: float
    strategy: str
    model_versions: dict[ModelName, str]
    skeleton: list[tuple[str, str]] = Field(default_factory=list, description="As in PredictionsReady.")
    keypoint_names: list[str] = Field(default_factory=list, description="As in PredictionsReady.")
    track_attributes: dict[str, list[str]] = Field(default_factory=dict, description="As in PredictionsReady.")


class AutoAccepted(_FrameJudged):
    """selector → dataset: a frame whose predictions are trusted as labels.

    No longer published: :class:`AutoAcceptedBatch` says the same once per batch, without repeating
    each frame's predictions, which are in the manifest lines it points to. Kept so that messages
    already queued still parse."""

    type: Literal["AutoAccepted"] = "AutoAccepted"
    version: Literal[1] = 1
    manifest_uri: S3Uri


class AcceptedFrame(Contract):
    """One frame of an :class:`AutoAcceptedBatch`."""

    uri: S3Uri
    frame_no: int = Field(ge=0)
    score: float
    audit: bool = Field(default=False, description="Also sent to people (the control arm).")


class AutoAcceptedBatch(Event):
    """selector → dataset: the frames of one PredictionsReady whose predictions are trusted as labels,
    one event per batch. Their labels are the Ground Truth manifest lines at ``manifest_uri``."""

    type: Literal["AutoAcceptedBatch"] = "AutoAcceptedBatch"
    version: Literal[1] = 1
    clip_id: str
    manifest_uri: S3Uri
    strategy: str
    model_versions: dict[ModelName, str]
    frames: list[AcceptedFrame] = Field(min_length=1)


class HumanReviewRequested(_FrameJudged):
    """selector → gt-bridge: a frame to be labeled by people."""

    type: Literal["HumanReviewRequested"] = "HumanReviewRequested"
    version: Literal[1] = 1
    reason: Literal["uncertain", "control_arm"]
    audit: bool = Field(
        default=False,
        description="People's labels will be evidence of the model's accuracy: the frame was chosen whatever its "
        "score (no threshold proven yet, or the seeded random audit draw), so the selector scores the model against "
        "them.",
    )


class LabelsCompleted(Event):
    """gt-bridge → dataset + trainer: a human label for one frame and modality."""

    type: Literal["LabelsCompleted"] = "LabelsCompleted"
    version: Literal[1] = 1
    clip_id: str
    frame: FrameRef
    modality: Modality
    level: Literal[1, 2]
    job_name: str
    dataset_object_id: str
    output_uri: S3Uri = Field(description="The Ground Truth output-manifest line for this object.")
    audit: bool = Field(default=False, description="The frame was an audit (HumanReviewRequested.audit).")


class ModelPromoted(Event):
    """trainer → inference: a new model version is in the Triton repository and should serve."""

    type: Literal["ModelPromoted"] = "ModelPromoted"
    version: Literal[1] = 1
    model_name: ModelName
    model_version: int = Field(ge=1)
    previous_version: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    registry_uri: S3Uri


class MeasureEstimate(Contract):
    """One measure's accuracy above a threshold, from audits alone (the selector's calibration)."""

    measure: str
    target: float | None = Field(description="The stated target; None: no target, the fixed threshold's estimate.")
    threshold: float | None = Field(description="The threshold the estimate is for; None: none proven.")
    audits: int = Field(ge=0, description="Audited frames at or above the threshold.")
    mean: float | None
    bound: float | None = Field(description="Lower confidence bound of the accuracy above the threshold.")


class ThresholdChanged(Event):
    """The selector's acceptance threshold for a set of model versions changed (audits proved a new one)."""

    type: Literal["ThresholdChanged"] = "ThresholdChanged"
    version: Literal[1] = 1
    model_versions: dict[ModelName, str]
    threshold: float | None = Field(description="Frames scoring at or above it are auto-accepted; None: none.")
    previous: float | None
    revision: int = Field(ge=1, description="The calibration's revision: one per change.")
    confidence: float = Field(gt=0.0, lt=1.0)
    estimates: list[MeasureEstimate]


AnyEvent = Annotated[
    FramesExtracted
    | PredictionsReady
    | AutoAccepted
    | AutoAcceptedBatch
    | HumanReviewRequested
    | LabelsCompleted
    | ModelPromoted
    | ThresholdChanged,
    Field(discriminator="type"),
]
"""Every event Labelloop services publish, discriminated by ``type`` (add new events here)."""

EVENT_MODELS: dict[str, type[Event]] = {
    model.model_fields["type"].default: model for model in get_args(get_args(AnyEvent)[0])
}
"""Event type name → model; the envelope parser's lookup table."""

Message = S3ObjectCreated | LabelingOutput | Event
"""What a handler can receive: an S3 record, a labeling job's output line or a Labelloop event."""
