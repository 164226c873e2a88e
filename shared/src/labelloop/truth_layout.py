"""Where hidden ground truth lives in the data bucket (read only by the simulated annotator and evaluators).

* a still frame's truth: ``truth/<frame key without extension>.json``;
* a synthetic clip's truth, per source frame: ``truth/clips/<upload key>/<frame_no:06d>.json``
  (ingest's frame numbers are source frame indices, so any extracted frame finds its truth).
"""

from __future__ import annotations

CLIP_TRUTH_PREFIX = "truth/clips/"


def frame_truth_location(frame_uri: str) -> tuple[str, str]:
    """(bucket, key) of a frame's own truth."""
    bucket, _, key = frame_uri.removeprefix("s3://").partition("/")
    return bucket, "truth/" + key.rsplit(".", 1)[0] + ".json"


def clip_truth_key(upload_key: str, frame_no: int) -> str:
    return f"{CLIP_TRUTH_PREFIX}{upload_key}/{frame_no:06d}.json"
