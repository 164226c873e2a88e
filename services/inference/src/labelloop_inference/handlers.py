"""inference handlers: frames → Triton (the serving set's models) → PredictionsReady.

A FramesExtracted batch is fetched from S3, letterboxed at the set's input size, and sent to the
set's models (pose_main, and pose_visible and head where the set has them) in requests of
``max_batch`` frames, all outstanding at once. Outputs are decoded with YOLO's post-processing,
the set's rig and its rules (visibility, head boxes), and published as PredictionsReady with the
model versions that produced them. The event id derives from the upstream event only, so a redelivery
after a promotion still de-duplicates downstream (the first prediction of a frame wins).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from botocore.exceptions import ClientError
from labelloop import (
    FramePredictions,
    FramesExtracted,
    ModelPromoted,
    PermanentError,
    PredictionsReady,
    deterministic_id,
    get_logger,
)
from labelloop.s3_uri import split_s3_uri
from labelloop.visibility import DecodeOptions, decode_frame
from labelloop.yolo import batch
from numpy.typing import NDArray

from labelloop_inference.clip_order import ClipOrder, PredictedBatch
from labelloop_inference.triton import ServedSet, TritonUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable

    from labelloop.dispatch import Handler

    from labelloop_inference.deps import Deps

log = get_logger()
MAX_EVENT_BYTES = 200_000  # under SNS's 256 KiB with room for the envelope and attributes


def _split_uri(uri: str) -> tuple[str, str]:
    bucket, key = split_s3_uri(uri)
    return bucket, key


def fetch_frame(deps: Deps, uri: str) -> NDArray[np.uint8]:
    bucket, key = _split_uri(uri)
    try:
        body = deps.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NoSuchBucket"}:
            raise PermanentError(f"frame {uri} does not exist (deleted after ingest?)") from error
        raise
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise PermanentError(f"frame {uri} is not a decodable image ({len(body)} bytes)")
    return np.asarray(image, np.uint8)


def predict(
    deps: Deps, images: list[NDArray[np.uint8]], frames: list[Any], served: ServedSet
) -> list[FramePredictions]:
    """Run the set's models over ``images`` in requests of ``max_batch`` and decode the outputs."""
    settings = deps.settings
    model_set = served.model_set
    imgsz = settings.imgsz or model_set.imgsz
    options = DecodeOptions(settings.detection_threshold, settings.nms_iou, settings.max_persons)
    results: list[FramePredictions] = []
    chunks = [
        (images[start : start + settings.max_batch], frames[start : start + settings.max_batch])
        for start in range(0, len(images), settings.max_batch)
    ]
    inputs = [batch(chunk_images, imgsz) for chunk_images, _ in chunks]
    all_outputs = deps.models.infer([tensor for tensor, _ in inputs], served.versions())
    for (_, chunk_frames), (_, fits), outputs in zip(chunks, inputs, all_outputs, strict=True):
        for index, (frame, fit) in enumerate(zip(chunk_frames, fits, strict=True)):
            try:
                results.append(
                    decode_frame(
                        outputs,
                        index,
                        fit,
                        frame,
                        rig=model_set.rig,
                        thresholds=deps.thresholds,
                        options=options,
                    )
                )
            except (ValueError, IndexError) as error:
                # The serving model does not match its set's rig: no retry will fix that.
                raise PermanentError(
                    f"set {served.version} ({model_set.name}) does not match its rig {model_set.rig.name}: {error}"
                ) from error
    return results


def _events(batch: PredictedBatch) -> list[PredictionsReady]:
    """One PredictionsReady, or several when one would be too large for SNS."""
    event = batch.event
    parts = [batch.predictions]
    while True:
        events = [
            PredictionsReady(
                event_id=deterministic_id("predictions", event.event_id, index, len(parts)),
                correlation_id=event.correlation_id,
                clip_id=event.clip_id,
                predictions=part,
                model_versions=batch.model_versions,
                taxonomy=event.taxonomy,
                skeleton=batch.skeleton,
                keypoint_names=batch.keypoint_names,
                track_attributes=batch.track_attributes,
            )
            for index, part in enumerate(parts)
        ]
        oversize = [len(e.model_dump_json()) > MAX_EVENT_BYTES for e in events]
        if not any(oversize) or all(len(part) == 1 for part in parts):
            return events
        parts = [
            half
            for part in parts
            for half in ((part[: len(part) // 2], part[len(part) // 2 :]) if len(part) > 1 else (part,))
        ]


def _predicted(event: FramesExtracted, deps: Deps) -> PredictedBatch:
    """The batch's predictions, from Triton; or as stored by an earlier delivery (the first prediction
    of a frame wins, whatever was promoted since)."""
    images = list(deps.fetch_pool.map(lambda frame: fetch_frame(deps, frame.uri), event.frames))

    def run() -> tuple[list[FramePredictions], ServedSet]:
        served = deps.serving.current()
        try:
            return predict(deps, images, list(event.frames), served), served
        except TritonUnavailableError:
            deps.serving.invalidate()  # a restart or a rollback may have changed what is loaded
            raise

    predictions, served = deps.triton_retry.call(
        run,
        retry_on=TritonUnavailableError,
        on_retry=lambda error, delay: log.warning("inference.triton_unavailable", error=str(error), retry_in_s=delay),
    )
    rig = served.model_set.rig
    return PredictedBatch(event=event, predictions=predictions, model_versions=served.versions(),
                          skeleton=list(rig.skeleton), keypoint_names=list(rig.keypoints),
                          track_attributes=rig.track_attribute_values)  # fmt: skip


def publisher(deps: Deps) -> Callable[[PredictedBatch], None]:
    """How a tracked batch goes out: its PredictionsReady events."""

    def publish(batch: PredictedBatch) -> None:
        for ready in _events(batch):
            deps.publisher.publish(ready)

    return publish


def handle_frames_extracted(event: FramesExtracted, deps: Deps) -> None:
    """Frames to run the models on; published once tracked, in the clip's order (clip_order)."""
    started = time.perf_counter()
    order = ClipOrder(deps.clients.s3, event, deps.settings.tracker())
    publish = publisher(deps)

    try:
        batch = order.stored() or _predicted(event, deps)
    except PermanentError as error:
        order.store_failed(str(error), publish)  # the clip's later batches must not wait for this one
        raise
    tracked_batches = order.store_and_track(batch, publish)
    log.info(
        "inference.predicted",
        frames=len(event.frames),
        persons=sum(len(p.persons) for p in batch.predictions),
        batch=event.batch_index,
        batches_published=tracked_batches,  # 0: waits for an earlier batch; >1: released later ones too
        model_versions=batch.model_versions,
        seconds=round(time.perf_counter() - started, 3),
    )


def handle_model_promoted(event: ModelPromoted, deps: Deps) -> None:
    """A new set version to serve: re-read the serving set now; wait until the registry names it (or
    a later one) and Triton has loaded its models. Set versions only grow, so a later set that
    dropped this model (an import on another rig) also settles the wait."""
    served = deps.serving.refresh()
    if served.version < event.model_version:
        raise TritonUnavailableError(
            f"set {event.model_version} ({event.model_name}) is not serving yet (serving set {served.version})"
        )
    log.info("inference.model_serving", model=event.model_name, model_version=event.model_version,
             serving_set=served.version, versions=served.versions())  # fmt: skip


HANDLERS: dict[type[Any], Handler[Any]] = {
    FramesExtracted: handle_frames_extracted,
    ModelPromoted: handle_model_promoted,
}
