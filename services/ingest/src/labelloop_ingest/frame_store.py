"""Frames into S3: JPEG-encode and upload in parallel, keep the refs, clean up on failure."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import cv2
from labelloop import FrameRef, Taxonomy
from labelloop.frame_layout import frame_key, manifest_key
from labelloop.s3_uri import s3_uri

from labelloop_ingest.media import DecodedFrame

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class FrameStore:
    """Writes one clip's frames. Encoding (cv2 releases the GIL) and PUTs overlap with decoding.

    At most ``2 * workers`` frames wait in memory, so a 4K clip cannot pile up gigabytes of
    decoded pixels when S3 is slower than the decoder.
    """

    def __init__(self, s3: S3Client, bucket: str, clip_id: str, *, jpeg_quality: int, workers: int) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._clip_id = clip_id
        self._quality = jpeg_quality
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"frames-{clip_id[:12]}")
        self._slots = threading.BoundedSemaphore(2 * workers)
        self._pending: list[Future[FrameRef]] = []
        self._written: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self) -> FrameStore:
        return self

    def __exit__(self, *_: object) -> None:
        # Whatever happened, no upload thread outlives the clip (a transient failure mid-clip
        # would otherwise leave the pool running until the process exits).
        self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, frame: DecodedFrame, attributes: dict[str, str] | None = None) -> None:
        """Queue a decoded frame for encoding and upload (blocks while too many are waiting)."""
        self._slots.acquire()
        future = self._pool.submit(self._encode_and_put, frame, attributes or {})
        future.add_done_callback(lambda _: self._slots.release())
        self._pending.append(future)

    def copy_jpeg(self, source_bucket: str, source_key: str, frame: FrameRef) -> FrameRef:
        """Store an uploaded JPEG as a frame server-side, bytes untouched (no re-encoding loss)."""
        key = frame_key(self._clip_id, frame.frame_no)
        self._s3.copy_object(
            Bucket=self._bucket,
            Key=key,
            CopySource={"Bucket": source_bucket, "Key": source_key},
            ContentType="image/jpeg",
            MetadataDirective="REPLACE",
        )
        self._remember(key)
        return frame.model_copy(update={"uri": s3_uri(self._bucket, key)})

    def finish(self) -> list[FrameRef]:
        """Wait for every frame; return their refs in frame order (raises the first failure)."""
        try:
            return sorted((future.result() for future in self._pending), key=lambda ref: ref.frame_no)
        finally:
            self._pool.shutdown(wait=True)

    def write_manifest(self, refs: Iterable[FrameRef], source_uri: str, taxonomy: Taxonomy | None = None) -> str:
        """One JSON line per frame (frame_no, timestamp, uri, size, its attributes, source clip, and the drive's
        and clip's taxonomy, which exports attach to each image); returns its URI."""
        scene = (taxonomy or Taxonomy()).model_dump(mode="json")
        lines = [
            json.dumps(
                {"clip_id": self._clip_id, "source_uri": source_uri, "taxonomy": scene, **ref.model_dump(mode="json")}
            )
            for ref in refs
        ]
        key = manifest_key(self._clip_id)
        self._s3.put_object(
            Bucket=self._bucket, Key=key, Body=("\n".join(lines) + "\n").encode(), ContentType="application/x-ndjson"
        )
        return s3_uri(self._bucket, key)

    def discard(self) -> None:
        """Delete what was written (best effort): a failed clip leaves no partial frame set behind."""
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)
        with self._lock:
            keys = list(self._written)
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})

    def _encode_and_put(self, frame: DecodedFrame, attributes: dict[str, str]) -> FrameRef:
        ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for frame {frame.frame_no}")
        key = frame_key(self._clip_id, frame.frame_no)
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=jpeg.tobytes(), ContentType="image/jpeg")
        self._remember(key)
        height, width = frame.image.shape[:2]
        return FrameRef(
            uri=s3_uri(self._bucket, key),
            frame_no=frame.frame_no,
            timestamp_s=frame.timestamp_s,
            width=width,
            height=height,
            attributes=attributes,
        )

    def _remember(self, key: str) -> None:
        with self._lock:
            self._written.append(key)
