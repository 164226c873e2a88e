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
passes over its frames and the clip goes on. A single-batch clip (an image) is tracked at once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from labelloop import FramePredictions, FramesExtracted, get_logger
from labelloop.events import Contract
from labelloop.s3_uri import split_s3_uri
from pydantic import Field

from labelloop_inference.tracks import ClipTracker, person_boxes

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
    failed: str | None = Field(default=None, description="Why the batch could not be predicted: tracking skips it.")


def tracked(batch: PredictedBatch, tracker: ClipTracker) -> PredictedBatch:
    """``batch`` with a track id on every person the tracker took (it advances by the batch's frames)."""
    frames = []
    for predictions in batch.predictions:
        ids = tracker.update(person_boxes(predictions))
        persons = [person.model_copy(update={"track_id": id_}) for person, id_ in zip(predictions.persons, ids,
                                                                                      strict=True)]  # fmt: skip
        frames.append(predictions.model_copy(update={"persons": persons}))
    return batch.model_copy(update={"predictions": frames})


class ClipOrder:
    """The ordered tracking of one clip's batches; see the module's docstring."""

    def __init__(self, s3: S3Client, event: FramesExtracted) -> None:
        self._s3 = s3
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
            publish(tracked(batch, ClipTracker()))
            return 1
        self._write(self._batch_key(self._index), batch.model_dump_json())
        return self._track_from(self._index, publish)

    def store_failed(self, reason: str, publish: Callable[[PredictedBatch], None]) -> int:
        """This batch cannot be predicted (its message goes to the dead-letter queue): store it as
        failed so tracking passes over it, and track what that lets through; how many published."""
        if self._count == 1:
            return 0
        if self.stored() is not None:  # predicted before (a redelivery that failed later): keep that
            return self._track_from(self._index, publish)
        failed = PredictedBatch(event=self._event, failed=reason)
        self._write(self._batch_key(self._index), failed.model_dump_json())
        return self._track_from(self._index, publish)

    def _track_from(self, index: int, publish: Callable[[PredictedBatch], None]) -> int:
        tracker = self._tracker_before(index)
        if tracker is None:
            log.info("inference.tracking_waits", clip_id=self._prefix.split("/")[1], batch=index, waits_for=index - 1)
            return 0
        published = 0
        while index < self._count:
            batch = self._read_batch(index)
            if batch is None:  # its worker has not stored it yet: it tracks it (and what follows) itself
                break
            if batch.failed is None:
                publish(tracked(batch, tracker))
                published += 1
            else:
                log.warning("inference.tracking_skips_batch", batch=index, reason=batch.failed)
            self._write(self._tracker_key(index), json.dumps(tracker.snapshot()))
            index += 1
        return published

    def _tracker_before(self, index: int) -> ClipTracker | None:
        if index == 0:
            return ClipTracker()
        text = self._read(self._tracker_key(index - 1))
        return None if text is None else ClipTracker.resume(json.loads(text))

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
