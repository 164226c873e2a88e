"""gt-bridge handlers: frames for people in, Ground Truth protocol out and back, labels onward.

* HumanReviewRequested → one data object per configured modality, registered in DynamoDB and
  published to that modality's level-1 job with a deterministic dedup id.
* A job's output line → expired, or failed otherwise (up to ``max_failures`` times, then the
  object is failed and the line dead-lettered with the reason): the next generation (a NEW dedup
  id) is sent; labeled: the label is written to the dataset (``dataset/human/...``), then either
  chained to the level-2 job (carrying the level-1 label) or announced as LabelsCompleted.
* The sweeper (:func:`sweep`) resends every object unlabeled for ``resend_after_s`` with the SAME
  dedup id, so SQS's 14-day retention never silently drops one, keeps the jobs alive, and sends the
  objects that waited for a job that was not InProgress (their message was acknowledged, not retried).

Each step is safe to repeat: conditional writes decide who acts, keys and event ids are derived
from the object, so a redelivered message rewrites the same objects and publishes the same ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from labelloop import (
    FramePredictions,
    FrameRef,
    HumanReviewRequested,
    LabelingOutput,
    LabelsCompleted,
    PermanentError,
    RetryableError,
    deterministic_id,
    get_logger,
)
from labelloop.groundtruth import JUDGED_KEY as JUDGED
from labelloop.groundtruth import OBJECT_ATTRIBUTE as OBJECT
from labelloop.groundtruth import (
    PREFILL_ATTRIBUTE,
    JobSpec,
    expired,
    failure_reason,
    input_line,
    judgement,
    label_of,
    line_dedup_id,
)
from labelloop.labeling_state import ObjectItem, object_key
from labelloop.manifest import augmented_manifest_line
from labelloop.s3_uri import s3_uri

from labelloop_gt_bridge.jobs import ActiveJob, JobNotReadyError

if TYPE_CHECKING:
    from labelloop.dispatch import Handler

    from labelloop_gt_bridge.deps import Deps

log = get_logger()


def prefill(predictions: FramePredictions, now: float) -> dict[str, Any]:
    """The model's labels, in the output shape, to pre-annotate a task: its own modality's to start from,
    the others' to show beside them (a head box beside its person's skeleton)."""
    line = augmented_manifest_line(
        predictions, human_annotated=False, job_name="labelloop/model", created=datetime.fromtimestamp(now, UTC)
    )
    return {key: value for key, value in line.items() if key != "source-ref"}


def publish_line(deps: Deps, topic_arn: str, line: dict[str, Any]) -> None:
    deps.clients.sns.publish(TopicArn=topic_arn, Message=json.dumps(line))


def send(deps: Deps, item: ObjectItem, *, resend: bool, job: ActiveJob | None = None) -> bool:
    """Publish the object's current line to its job (``job``, or the live one looked up) and
    record it; False if another worker did."""
    now = deps.clock.now()
    job = job or deps.jobs.live(item.job_key, now)
    publish_line(deps, job.input_topic, item.line)
    return deps.state.mark_sent(item.key, item.generation, item.sent_at, now, resend=resend)


def send_pending(deps: Deps, key: str, item: ObjectItem | None = None) -> None:
    """Publish the object's current generation unless it went out already: it is new, a new
    generation after an expiry, or a retry after a crash before publishing. ``item`` is the object
    as this worker just created it; without it, it is read."""
    item = item or deps.state.get(key)
    if item is None:  # written a moment ago; only a deleted table could cause this
        raise RetryableError(f"object {key} vanished right after it was written")
    if item.status != "sent" or item.sent_at != 0:
        return
    try:
        send(deps, item, resend=False)
    except JobNotReadyError as error:
        # The object is in the table, never sent: the sweep sends it once the job is InProgress. Retrying
        # the message instead would dead-letter it when the backend is away longer than a few receives
        # (a Label Studio that is down, a token being fixed, a job being replaced).
        log.warning("gt_bridge.waiting_for_job", object=key, job=item.job_key, reason=str(error))


def register_and_send(deps: Deps, spec: JobSpec, line: dict[str, Any]) -> None:
    key = line[OBJECT]
    send_pending(deps, key, deps.state.register(key, spec.key, line))


def handle_human_review_requested(event: HumanReviewRequested, deps: Deps) -> None:
    """A frame for people: one level-1 data object per modality."""
    frame = event.predictions.frame
    now = deps.clock.now()
    for modality in deps.settings.modalities:
        spec = deps.jobs.specs[f"{modality}-l1"]
        key = object_key(frame.uri, modality, 1)
        line = input_line(
            source_ref=frame.uri,
            object_key=key,
            generation=0,
            frame={
                "clip_id": event.clip_id,
                "reason": event.reason,
                # what the selector needs to score an audit against people's labels (LabelsCompleted.audit)
                JUDGED: {"score": event.score, "model_versions": event.model_versions, "audit": event.audit},
                "skeleton": [list(e) for e in event.skeleton],
                "keypoint_names": event.keypoint_names,
                "track_attributes": event.track_attributes,
                **frame.model_dump(mode="json"),
            },
            prefill=prefill(event.predictions, now),
        )
        register_and_send(deps, spec, line)
    log.info("gt_bridge.requested", frame=frame.uri, reason=event.reason, modalities=list(deps.settings.modalities))


def _human_key(frame: FrameRef, clip_id: str, spec: JobSpec) -> str:
    return f"dataset/human/{clip_id}/{frame.frame_no:06d}-{spec.modality}-l{spec.level}.json"


def handle_labeling_output(event: LabelingOutput, deps: Deps) -> None:
    """A job's output line: expired → next generation; labeled → dataset, then level 2 or done."""
    line = event.line
    key = line.get(OBJECT)
    if not isinstance(key, str):
        raise PermanentError(f"output line without {OBJECT!r} ({line.get('source-ref')!r}): not a line gt-bridge sent")
    item = deps.state.get(key)
    if item is None:
        raise PermanentError(f"output line for an object gt-bridge never sent ({line.get('source-ref')!r})")
    spec = deps.jobs.specs[item.job_key]
    if line_dedup_id(line) != line_dedup_id(item.line):
        log.info("gt_bridge.stale_output", object=key, generation=item.generation)  # an older generation's echo
        return
    if item.status in ("completed", "failed"):
        # The same line again: a job (or a portal that died before marking it delivered) sent it twice.
        log.info("gt_bridge.duplicate_output", object=key, status=item.status)
        return
    if expired(line, spec.label_attribute):
        _next_generation(deps, item, counter="expiries")
        return
    if (reason := failure_reason(line, spec.label_attribute)) is not None:
        _retry_failed(deps, item, reason)
        return
    if spec.label_attribute not in line:
        raise PermanentError(f"output line for {key} has neither {spec.label_attribute!r} nor a failure reason")
    frame_fields = dict(item.line["labelloop-frame"])
    clip_id = frame_fields.pop("clip_id")
    frame_fields.pop("reason", None)
    frame_fields.pop(JUDGED, None)
    frame = FrameRef.model_validate(frame_fields)
    data_key = _human_key(frame, clip_id, spec)
    deps.clients.s3.put_object(
        Bucket=deps.data_bucket, Key=data_key, Body=json.dumps(line).encode(), ContentType="application/json"
    )
    output_uri = s3_uri(deps.data_bucket, data_key)
    if spec.level == 1 and spec.modality in deps.settings.level2:
        level2 = deps.jobs.specs[f"{spec.modality}-l2"]
        next_line = input_line(
            source_ref=frame.uri,
            object_key=object_key(frame.uri, spec.modality, 2),
            generation=0,
            frame=item.line["labelloop-frame"],
            # the model's guess rides along, so the adjuster sees it beside the level-1 answer
            prefill=item.line.get(PREFILL_ATTRIBUTE),
            level1_labels=label_of(line, spec.label_attribute),
        )
        register_and_send(deps, level2, next_line)
    else:
        job = deps.state.job(spec.key)
        deps.publisher.publish(
            LabelsCompleted(
                event_id=deterministic_id("LabelsCompleted", item.key),
                correlation_id=clip_id,
                clip_id=clip_id,
                frame=frame,
                modality=spec.modality,
                level=spec.level,
                job_name=job.job_name if job else spec.key,
                dataset_object_id=line_dedup_id(line) or item.key,
                output_uri=output_uri,
                audit=bool(judgement(item.line).get("audit")),
            )
        )
    deps.state.complete(item.key, item.generation)
    log.info("gt_bridge.labeled", object=item.key, level=spec.level, output=output_uri)


def _next_generation(deps: Deps, item: ObjectItem, *, counter: str) -> None:
    """The object again under a NEW dedup id (the job will not take the old one twice)."""
    next_line = {**item.line, **input_line(
        source_ref=item.line["source-ref"], object_key=item.key, generation=item.generation + 1,
        frame=item.line["labelloop-frame"],
    )}  # fmt: skip
    if deps.state.next_generation(item.key, item.generation, next_line, counter=counter):
        log.info("gt_bridge.next_generation", object=item.key, generation=item.generation + 1, reason=counter)
    send_pending(deps, item.key)  # the new generation's first send (its own dedup id)


def _retry_failed(deps: Deps, item: ObjectItem, reason: str) -> None:
    """A task that failed otherwise than by expiring (rejected, a worker's error): sent again under
    a new dedup id, up to ``max_failures`` times; then the object is failed and the line goes to the
    dead-letter queue with the reason."""
    if item.failures < deps.settings.max_failures:
        log.warning("gt_bridge.task_failed", object=item.key, reason=reason, failures=item.failures + 1)
        _next_generation(deps, item, counter="failures")
        return
    given_up = f"its task failed {item.failures + 1} times, last: {reason}"
    deps.state.give_up(item.key, item.generation, given_up)
    raise PermanentError(f"object {item.key}: {given_up}")


@dataclass
class SweepResult:
    """What one sweep did: resends, objects waiting for a job that is not running, and errors."""

    resent: int = 0
    waiting: int = 0
    errors: int = 0


def sweep(deps: Deps) -> SweepResult:
    """Keep every job alive and resend objects unlabeled for ``resend_after_s`` (same dedup id).

    Each job, and each object, on its own: a job that is starting, stopping or failed, or an
    error on one object, is logged and counted and never keeps another's objects from going out.
    """
    now = deps.clock.now()
    result = SweepResult()
    live: dict[str, ActiveJob | Exception] = {}
    for spec in deps.jobs.specs.values():
        try:
            deps.jobs.heal_subscription(spec.key)
            live[spec.key] = deps.jobs.live(spec.key, now)
        except Exception as error:  # noqa: BLE001 - one job's trouble is logged and must not stop the others
            live[spec.key] = error
            log.warning("gt_bridge.job_unavailable", job=spec.key, error=str(error))
    for key, job in live.items():
        try:
            due = deps.state.due(key, sent_before=now - deps.settings.resend_after_s)
        except Exception as error:  # noqa: BLE001 - one job's trouble is logged and must not stop the others
            result.errors += 1
            log.error("gt_bridge.sweep_query_failed", job=key, error=str(error))
            continue
        if not isinstance(job, ActiveJob):
            result.waiting += len(due)
            continue
        for item in due:
            try:
                result.resent += send(deps, item, resend=item.sent_at > 0, job=job)
            except Exception as error:  # noqa: BLE001 - the next sweep retries this object; the others go on
                result.errors += 1
                log.error("gt_bridge.resend_failed", object=item.key, error=str(error))
    if result.resent or result.waiting or result.errors:
        log.info("gt_bridge.swept", resent=result.resent, waiting=result.waiting, errors=result.errors)
    return result


HANDLERS: dict[type[Any], Handler[Any]] = {
    HumanReviewRequested: handle_human_review_requested,
    LabelingOutput: handle_labeling_output,
}
