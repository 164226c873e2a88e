"""A clip's batches tracked in order, though different workers predict them at once.

Ingest publishes a clip as batches (``batch_index`` of ``batch_count``) that inference workers take
concurrently; a tracker needs the frames in order. So prediction stays parallel and only the
tracking step is ordered, through two kinds of S3 objects next to the clip's frames:

* ``tracking/<clip>/batch-<k>.json``: batch k's predictions as its worker made them (untracked);
* ``tracking/<clip>/tracker-<k>.json``: the tracker's snapshot after batch k, written once batch k's
  tracked PredictionsReady are published.

A worker stores its batch, then tracks every batch it can in order: batch k once the snapshot after
k-1 exists, then k+1 if that batch is stored, and so on. Each side writes before it looks at the
other's object and S3 reads its writes, so the worker finishing k-1 and the one storing k cannot
both miss each other: whichever comes second tracks k. Two workers may track the same batch at once;
tracking is deterministic and event ids derive from the batch, so they publish the same events and
the duplicate is dropped downstream. A crash between publishing and the snapshot is repaired by the
redelivery, which finds its stored batch (the first prediction of a frame wins) and tracks again.

A batch that fails for good is stored as failed before its message is dead-lettered: the tracker
passes over its frames and the clip goes on. A batch whose message never completes (a worker that
crashes on it every time, until SQS dead-letters it) cannot say so; a batch that has to wait leaves
a marker, ``tracking/waiting/<clip>.json``, and :func:`release_stalled` (inference's periodic task)
passes over a missing batch once the clip has made no progress for ``TRACKING_STALL_S``. A batch
that comes back after that (a dead letter replayed) is published, tracked from the batch before it.
A single-batch clip (an image) is tracked at once.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from labelloop import FramePredictions, FramesExtracted, get_logger
from labelloop.events import Contract
from labelloop.s3_uri import split_s3_uri
from pydantic import Field

from labelloop_inference.tracks import ClipTracker, TrackerSettings

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

log = get_logger()


class PredictedBatch(Contract):
    """What tracking needs of a predicted batch to publish it later, from any worker."""

    event: FramesExtracted
    predictions: list[FramePredictions] = Field(default_factory=list)
    model_versions: dict[str, str] = Field(default_factory=dict)
    skeleton: list[tuple[str, str]] = Field(default_factory=list)
    keypoint_names: list[str] = Field(default_factory=list)
    track_attributes: dict[str, list[str]] = Field(default_factory=dict)
    failed: str | None = Field(default=None, description="Why the batch could not be predicted: tracking skips it.")


WAITING_PREFIX = "tracking/waiting/"


def waiting_key(clip_id: str) -> str:
    """Where a clip that waits for a batch leaves its marker (one event of the clip, to resume from)."""
    return f"{WAITING_PREFIX}{clip_id}.json"


def release_stalled(
    s3: S3Client, bucket: str, stall_s: float, publish: Callable[[PredictedBatch], None], settings: TrackerSettings
) -> int:
    """Inference's periodic task: every waiting clip that has stalled passes over its missing batch.
    One clip's trouble is logged and never keeps the others waiting; how many batches it published."""
    published = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=WAITING_PREFIX):
        for found in page.get("Contents", []):
            try:
                body = s3.get_object(Bucket=bucket, Key=found["Key"])["Body"].read()
                order = ClipOrder(s3, FramesExtracted.model_validate_json(body), settings)
                published += order.release_if_stalled(stall_s, publish)
            except Exception as error:  # noqa: BLE001 - the next run retries this clip; the others go on
                log.error("inference.tracking_release_failed", marker=found["Key"], error=str(error))
    return published


def tracked(batch: PredictedBatch, tracker: ClipTracker) -> PredictedBatch:
    """``batch`` with track ids and temporal changes on its persons (the tracker advances by its frames)."""
    persons = tracker.follow_frames([(p.persons, p.frame.timestamp_s) for p in batch.predictions])
    frames = [p.model_copy(update={"persons": found}) for p, found in zip(batch.predictions, persons, strict=True)]
    return batch.model_copy(update={"predictions": frames})


class ClipOrder:
    """The ordered tracking of one clip's batches; see the module's docstring."""

    def __init__(self, s3: S3Client, event: FramesExtracted, settings: TrackerSettings = TrackerSettings()) -> None:  # noqa: B008
        self._s3 = s3
        self._settings = settings
        self._event = event
        self._bucket = split_s3_uri(event.manifest_uri)[0]
        self._prefix = f"tracking/{event.clip_id}/"
        self._count = event.batch_count
        self._index = event.batch_index

    def stored(self) -> PredictedBatch | None:
        """This batch as a worker stored it before (a redelivery), if it did and it did not fail."""
        batch = self._read_batch(self._index)
        return batch if batch is not None and batch.failed is None else None

    def store_and_track(self, batch: PredictedBatch, publish: Callable[[PredictedBatch], None]) -> int:
        """Store this batch, then publish every batch that can now be tracked, in order; how many."""
        if self._count == 1:  # an image or a one-batch clip: nothing to wait for
            publish(tracked(batch, ClipTracker(self._settings)))
            return 1
        self._write(self._batch_key(self._index), batch.model_dump_json())
        if self._read(self._tracker_key(self._index)) is not None and (before := self._tracker_before(self._index)):
            # Tracked already, or passed over and now back (a dead letter replayed): this batch alone goes
            # out, tracked from the batch before it; the clip's later batches went out long ago.
            publish(tracked(batch, before))
            return 1
        return self._track_from(self._index, publish, batch)

    def store_failed(self, reason: str, publish: Callable[[PredictedBatch], None]) -> int:
        """This batch cannot be predicted (its message goes to the dead-letter queue): store it as
        failed so tracking passes over it, and track what that lets through; how many published."""
        if self._count == 1:
            return 0
        if (stored := self.stored()) is not None:  # predicted before (a redelivery that failed later): keep that
            return self._track_from(self._index, publish, stored)
        return self._track_from(self._index, publish, self._store_failed(self._index, reason))

    def _store_failed(self, index: int, reason: str) -> PredictedBatch:
        failed = PredictedBatch(event=self._event, failed=reason)
        self._write(self._batch_key(index), failed.model_dump_json())
        return failed

    def _track_from(
        self, index: int, publish: Callable[[PredictedBatch], None], first: PredictedBatch | None = None
    ) -> int:
        """Track batch ``index`` and every stored one after it, in order; ``first``: batch ``index`` as
        the caller has it already (not read back)."""
        tracker = self._tracker_before(index)
        if tracker is None:
            log.info("inference.tracking_waits", clip_id=self._event.clip_id, batch=index, waits_for=index - 1)
            self._write(waiting_key(self._event.clip_id), self._event.model_dump_json())
            return 0
        published = 0
        while index < self._count:
            batch = first if first is not None else self._read_batch(index)
            first = None
            if batch is None:  # its worker has not stored it yet: it tracks it (and what follows) itself
                break
            if batch.failed is None:
                publish(tracked(batch, tracker))
                published += 1
            else:
                log.warning("inference.tracking_skips_batch", batch=index, reason=batch.failed)
            self._write(self._tracker_key(index), json.dumps(tracker.snapshot()))
            index += 1
        if index == self._count:  # the clip is tracked to its end: nothing waits any more
            self._s3.delete_object(Bucket=self._bucket, Key=waiting_key(self._event.clip_id))
        return published

    def release_if_stalled(self, stall_s: float, publish: Callable[[PredictedBatch], None]) -> int:
        """Pass over the clip's next missing batch if the clip has made no progress for ``stall_s``
        (see the module's docstring); how many batches that published."""
        snapshots = self._snapshot_times()
        index = len(snapshots)  # batches are tracked in order, so these are 0..index-1
        if index >= self._count:
            self._s3.delete_object(Bucket=self._bucket, Key=waiting_key(self._event.clip_id))
            return 0
        batch = self._read_batch(index)
        if batch is None:
            if time.time() - max(snapshots or [self._waiting_since()]) < stall_s:
                return 0
            reason = f"not predicted within {stall_s:.0f} s of the clip's last progress (dead-lettered or lost)"
            log.warning("inference.tracking_passes_over", clip_id=self._event.clip_id, batch=index, reason=reason)
            batch = self._store_failed(index, reason)
        return self._track_from(index, publish, batch)

    def _snapshot_times(self) -> list[float]:
        """When each of the clip's tracker snapshots was written."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=f"{self._prefix}tracker-"
        )
        return [o["LastModified"].timestamp() for page in pages for o in page.get("Contents", [])]

    def _waiting_since(self) -> float:
        head = self._s3.head_object(Bucket=self._bucket, Key=waiting_key(self._event.clip_id))
        return float(head["LastModified"].timestamp())

    def _tracker_before(self, index: int) -> ClipTracker | None:
        if index == 0:
            return ClipTracker(self._settings)
        text = self._read(self._tracker_key(index - 1))
        return None if text is None else ClipTracker.resume(json.loads(text), self._settings)

    def _read_batch(self, index: int) -> PredictedBatch | None:
        text = self._read(self._batch_key(index))
        return None if text is None else PredictedBatch.model_validate_json(text)

    def _batch_key(self, index: int) -> str:
        return f"{self._prefix}batch-{index:05d}.json"

    def _tracker_key(self, index: int) -> str:
        return f"{self._prefix}tracker-{index:05d}.json"

    def _read(self, key: str) -> str | None:
        try:
            body: Any = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        return str(body.read().decode())

    def _write(self, key: str, text: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=text.encode(), ContentType="application/json")
