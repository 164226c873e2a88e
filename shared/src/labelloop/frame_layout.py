"""Where ingest stores a clip's frames in the data bucket: ``frames/<clip_id>/<frame_no:06d>.jpg`` beside
the clip's ``manifest.jsonl``. Every stage that finds a frame by its clip and number reads it here."""

from __future__ import annotations

from labelloop.s3_uri import s3_uri, split_s3_uri

FRAMES_PREFIX = "frames/"


def frame_key(clip_id: str, frame_no: int) -> str:
    return f"{FRAMES_PREFIX}{clip_id}/{frame_no:06d}.jpg"


def manifest_key(clip_id: str) -> str:
    return f"{FRAMES_PREFIX}{clip_id}/manifest.jsonl"


def clip_frame(key: str) -> tuple[str, int] | None:
    """``(clip_id, frame_no)`` of a frame in this layout; None for any other key (an imported image)."""
    parts = key.split("/")
    if len(parts) != 3 or f"{parts[0]}/" != FRAMES_PREFIX or not parts[2].endswith(".jpg"):
        return None
    number = parts[2].removesuffix(".jpg")
    return (parts[1], int(number)) if number.isdigit() else None


def neighbour_uri(frame_uri: str, frame_no: int) -> str | None:
    """The URI of frame ``frame_no`` of the clip ``frame_uri`` belongs to; None when ``frame_uri`` is not
    in this layout."""
    bucket, key = split_s3_uri(frame_uri)
    found = clip_frame(key)
    return s3_uri(bucket, frame_key(found[0], frame_no)) if found and frame_no >= 0 else None
