"""Where hidden ground truth lives in the data bucket (read only by the simulated annotator and evaluators).

* a still frame's truth: ``truth/<frame key without extension>.json``;
* a synthetic clip's truth, per source frame: ``truth/clips/<upload key>/<frame_no:06d>.json``
  (ingest's frame numbers are source frame indices, so any extracted frame finds its truth).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from labelloop.events import FramePredictions
from labelloop.frame_layout import clip_frame, manifest_key
from labelloop.manifest import augmented_manifest_line
from labelloop.s3_uri import split_s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CLIP_TRUTH_PREFIX = "truth/clips/"


def frame_truth_location(frame_uri: str) -> tuple[str, str]:
    """(bucket, key) of a frame's own truth."""
    bucket, key = split_s3_uri(frame_uri)
    return bucket, "truth/" + key.rsplit(".", 1)[0] + ".json"


def clip_truth_key(upload_key: str, frame_no: int) -> str:
    return f"{CLIP_TRUTH_PREFIX}{upload_key}/{frame_no:06d}.json"


def truth_line(truth: FramePredictions, frame_uri: str) -> dict[str, Any]:
    """The truth as a manifest line for ``frame_uri`` (a clip's truth names the clip, not the frame)."""
    frame = truth.frame.model_copy(update={"uri": frame_uri})
    return augmented_manifest_line(
        truth.model_copy(update={"frame": frame}), human_annotated=True, job_name="truth", created=datetime.now(UTC)
    )


class TruthReader:
    """A frame's hidden truth: its own, else its synthetic clip's (found through ingest's frame manifest)."""

    def __init__(self, s3: S3Client) -> None:
        self._s3 = s3
        self._uploads: dict[str, str | None] = {}  # clip id -> the upload key it came from

    def _read(self, bucket: str, key: str) -> bytes | None:
        try:
            return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError:
            return None

    def truth(self, frame_uri: str) -> FramePredictions | None:
        body = self._read(*frame_truth_location(frame_uri))
        if body is None:
            body = self._clip_truth(frame_uri)
        return FramePredictions.model_validate_json(body) if body else None

    def _clip_truth(self, frame_uri: str) -> bytes | None:
        bucket, key = split_s3_uri(frame_uri)
        found = clip_frame(key)
        if found is None:
            return None
        clip_id, frame_no = found
        if clip_id not in self._uploads:
            manifest = self._read(bucket, manifest_key(clip_id))
            first = json.loads(manifest.decode().splitlines()[0]) if manifest else {}
            source_uri = first.get("source_uri")
            # No manifest, or one without a source: this clip's truth cannot be found (None, not an error).
            self._uploads[clip_id] = (split_s3_uri(str(source_uri))[1] or None) if source_uri else None
        upload_key = self._uploads[clip_id]
        return self._read(bucket, clip_truth_key(upload_key, frame_no)) if upload_key else None
