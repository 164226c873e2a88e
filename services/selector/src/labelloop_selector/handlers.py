"""selector handlers: each frame of PredictionsReady is auto-accepted, sent to people, or deferred.

Per frame: score (the configured strategy) → route (threshold, control arm) → near-duplicate check
against the clip's last frame sent to people → budget spent and the decision stored with
conditional DynamoDB writes (see state.py). A decision stored earlier (a retry, a duplicate batch) wins over the
one just computed, so every frame is decided once per model version. Then the outputs, all with
deterministic keys and event ids: dataset manifest lines for auto-accepted frames, deferral
records, one JSONL of Ground Truth manifest lines per batch, one AutoAcceptedBatch for the batch's
accepted frames and a HumanReviewRequested per frame for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from labelloop import (
    AutoAcceptedBatch,
    Event,
    FramePredictions,
    HumanReviewRequested,
    PredictionsReady,
    deterministic_id,
    get_logger,
    utc_now,
)
from labelloop.dataset import MODEL_VERSIONS_ATTRIBUTE
from labelloop.events import AcceptedFrame
from labelloop.manifest import augmented_manifest_line
from labelloop.s3_uri import s3_uri
from pydantic_core import to_json

from labelloop_selector.policy import (
    control_draw,
    frame_key,
    initial_route,
    is_near_duplicate,
    signature,
    version_tag,
)
from labelloop_selector.state import FOR_PEOPLE, Decision, LastSent

if TYPE_CHECKING:
    from labelloop_selector.deps import Deps

log = get_logger()
AUTO_JOB_NAME = "labelloop-auto/selector"


def judge(
    predictions: FramePredictions, versions: str, threshold: float | None, last_sent: LastSent | None, deps: Deps
) -> tuple[Decision, LastSent | None]:
    """The decision for one frame, before budgets; and the frame as 'last sent' if it goes to people."""
    score = deps.scorer(predictions, deps.context)
    draw = control_draw(deps.policy.control_seed, predictions.frame.uri, versions)
    route, audit = initial_route(score, draw, threshold, deps.policy.control_fraction)
    if route != "human":
        return Decision(route, score, audit=audit), None
    current = LastSent(predictions.frame.frame_no, signature(predictions))
    if not audit and last_sent is not None and is_near_duplicate(current.signature, last_sent.signature, deps.policy):
        return Decision("near_duplicate", score, near_duplicate_of=last_sent.frame_no), None
    return Decision("human", score, audit=audit), current


def manifest_key(clip_id: str, batch_id: str, frame_nos: list[int]) -> str:
    """One JSONL object per batch: ``dataset/auto/{clip_id}/{first:06d}-{last:06d}-{digest}.jsonl``.

    ``batch_id``: the batch's identity, ``deterministic_id`` of its frames' :func:`frame_key` (which
    the decisions are claimed under too). Deterministic for the batch's frames and model versions,
    so a retry overwrites it. A frame
    judged again in another batch (another model version) lands in another file: readers keep,
    per ``source-ref``, the line of the newest model version.
    """
    return f"dataset/auto/{clip_id}/{min(frame_nos):06d}-{max(frame_nos):06d}-{batch_id[:10]}.jsonl"


@dataclass
class Outputs:
    """What a batch produces, built without I/O (so its CPU cost can be measured on its own)."""

    manifest_key: str
    manifest_lines: list[bytes] = field(default_factory=list)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    accepted: list[AcceptedFrame] = field(default_factory=list)  # one AutoAcceptedBatch announces them all
    routes: dict[str, int] = field(default_factory=dict)
    created: datetime = field(default_factory=utc_now)  # one judgement time for the whole batch

    def add(
        self, event: PredictionsReady, predictions: FramePredictions, key: str, decision: Decision, deps: Deps
    ) -> None:
        self.routes[decision.route] = self.routes.get(decision.route, 0) + 1
        if decision.route in ("auto", "control"):
            # pydantic-core's serializer: ~6x faster than json.dumps on these float-heavy lines.
            line = augmented_manifest_line(
                predictions, human_annotated=False, job_name=AUTO_JOB_NAME, created=self.created
            )
            line[MODEL_VERSIONS_ATTRIBUTE] = event.model_versions  # which models gave these labels (exports say)
            self.manifest_lines.append(to_json(line))
            # Built unvalidated: every field comes from a validated event or our own decision (most frames
            # take this path, and validation was a tenth of the core's time per frame).
            self.accepted.append(AcceptedFrame.model_construct(uri=predictions.frame.uri,
                                                               frame_no=predictions.frame.frame_no,
                                                               score=decision.score,
                                                               audit=decision.route == "control"))  # fmt: skip
        if decision.route in FOR_PEOPLE:
            self.events.append(
                HumanReviewRequested(
                    event_id=f"{key}-review",
                    reason="uncertain" if decision.route == "human" else "control_arm",
                    audit=decision.audit,
                    correlation_id=event.correlation_id,
                    clip_id=event.clip_id,
                    predictions=predictions,
                    score=decision.score,
                    strategy=deps.settings.strategy,
                    model_versions=event.model_versions,
                    skeleton=event.skeleton,
                    keypoint_names=event.keypoint_names,
                    track_attributes=event.track_attributes,
                )
            )
        if decision.route in ("near_duplicate", "over_budget"):
            frame_path = f"{event.clip_id}/{predictions.frame.frame_no:06d}.json"
            self.documents[f"dataset/deferred/{frame_path}"] = {
                "source-ref": predictions.frame.uri,
                "route": decision.route,
                "score": decision.score,
                "near_duplicate_of": decision.near_duplicate_of,
                "strategy": deps.settings.strategy,
                "model_versions": event.model_versions,
            }

    def all_events(self, event: PredictionsReady, deps: Deps) -> list[Event]:
        """The frames for people, one event each (gt-bridge needs each one's predictions), and the
        accepted ones in one event for the batch."""
        if not self.accepted:
            return self.events
        accepted = AutoAcceptedBatch(
            event_id=deterministic_id("AutoAcceptedBatch", self.manifest_key),  # the key is the batch's identity
            correlation_id=event.correlation_id,
            clip_id=event.clip_id,
            manifest_uri=s3_uri(deps.data_bucket, self.manifest_key),
            strategy=deps.settings.strategy,
            model_versions=event.model_versions,
            frames=self.accepted,
        )
        return [*self.events, accepted]


Judged = tuple[str, FramePredictions, Decision, LastSent | None]


def decide(
    event: PredictionsReady,
    frames: list[FramePredictions],
    keys: list[str],
    versions: str,
    deps: Deps,
    *,
    batch_id: str,
) -> dict[str, Decision]:
    """Every frame's decision: one stored before stands; the others are judged and stored: claimed for
    the batch with the budget for those that go to people spent in one write when it has room for all
    of them (else frame by frame), then each frame's own item. ``versions``: the :func:`version_tag`
    that judges them; ``batch_id``: the batch's identity (see :func:`manifest_key`)."""
    earlier, last_sent = deps.state.read(keys, event.clip_id)
    threshold = deps.calibrations.threshold(versions)
    judged: list[Judged] = []
    chain = last_sent
    for key, predictions in zip(keys, frames, strict=True):
        if key not in earlier:
            decision, sent = judge(predictions, versions, threshold, chain, deps)
            judged.append((key, predictions, decision, sent))
            chain = sent or chain
    new = {key: decision for key, _, decision, _ in judged}
    if any(decision.route in FOR_PEOPLE for decision in new.values()):
        claimed = deps.state.claim_batch(
            batch_id,
            new,
            clip_id=event.clip_id,
            budgets=deps.budgets,
            last_sent=None if chain is last_sent else chain,
        )
        if claimed is None:  # a budget runs out within the batch
            return earlier | _decide_one_by_one(event, judged, versions, deps, last_sent=last_sent, threshold=threshold)
        new = claimed
    deps.state.record_decisions(new)
    return earlier | new


def _decide_one_by_one(
    event: PredictionsReady,
    judged: list[Judged],
    versions: str,
    deps: Deps,
    *,
    last_sent: LastSent | None,
    threshold: float | None,
) -> dict[str, Decision]:
    """Judge again frame by frame, each spending its own budget: once one is spent, a frame for people is
    deferred and the clip's last frame sent stays the one before it."""
    decided: dict[str, Decision] = {}
    new_auto: dict[str, Decision] = {}
    for key, predictions, _, _ in judged:
        decision, sent = judge(predictions, versions, threshold, last_sent, deps)
        if decision.route == "auto":
            decided[key] = new_auto[key] = decision
            continue
        stored = deps.state.record(key, decision, clip_id=event.clip_id, budgets=deps.budgets, sent=sent)
        decided[key] = stored
        if stored.route == "human" and stored == decision and sent is not None:
            last_sent = sent
    deps.state.record_decisions(new_auto)
    return decided


def handle_predictions_ready(event: PredictionsReady, deps: Deps) -> None:
    """Judge every frame of the batch, store the decisions, write manifests, publish events."""
    frames = sorted(event.predictions, key=lambda p: p.frame.frame_no)
    versions = version_tag(event.model_versions)
    keys = [frame_key(p.frame.uri, versions) for p in frames]
    batch_id = deterministic_id(*keys)
    decisions = decide(event, frames, keys, versions, deps, batch_id=batch_id)
    outputs = Outputs(manifest_key(event.clip_id, batch_id, [p.frame.frame_no for p in frames]))
    for key, predictions in zip(keys, frames, strict=True):
        outputs.add(event, predictions, key, decisions[key], deps)
    if outputs.manifest_lines:
        deps.clients.s3.put_object(
            Bucket=deps.data_bucket,
            Key=outputs.manifest_key,
            Body=b"\n".join(outputs.manifest_lines) + b"\n",
            ContentType="application/x-ndjson",
        )
    for key, document in outputs.documents.items():
        deps.clients.s3.put_object(
            Bucket=deps.data_bucket, Key=key, Body=to_json(document), ContentType="application/json"
        )
    deps.publisher.publish_all(outputs.all_events(event, deps))
    log.info("selector.judged", clip_id=event.clip_id, frames=len(event.predictions), **outputs.routes)
