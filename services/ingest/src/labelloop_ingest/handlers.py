"""ingest handlers: an uploaded clip or image becomes JPEG frames in S3 and FramesExtracted events.

Order matters for "no partial frame set published as complete": every frame is written, then
the manifest, and only then are the events published. A failure before that publishes nothing;
a media error also deletes the frames already written. Retrying is safe: frame keys and event
ids are derived from the object version, so a repeat overwrites the same objects and the
downstream consumer de-duplicates the events.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from labelloop import (
    FrameRef,
    FramesExtracted,
    PermanentError,
    S3ObjectCreated,
    Taxonomy,
    deterministic_id,
    get_logger,
)
from labelloop.s3_uri import s3_uri
from labelloop.uploads import CLIP_EXTENSIONS, CLIP_PREFIX, IMAGE_EXTENSIONS, IMAGE_PREFIX, options_from_metadata

from labelloop_ingest.frame_store import FrameStore
from labelloop_ingest.media import (
    DecodedFrame,
    MediaError,
    check_complete,
    load_image,
    probe,
    sample_times,
    sampled_frames,
    sniff,
)

if TYPE_CHECKING:
    from labelloop.dispatch import Handler

    from labelloop_ingest.deps import Deps

log = get_logger()
SIDECAR_SUFFIX = ".json"
UploadKind = Literal["clip", "image", "sidecar"]


def classify(bucket: str, key: str, uploads_bucket: str) -> UploadKind:
    """What an object of the input bucket is; PermanentError for anything ingest must not take."""
    if bucket != uploads_bucket:
        raise PermanentError(f"s3://{bucket}/{key} is outside the configured input bucket {uploads_bucket}")
    parts = PurePosixPath(key).parts
    if key.startswith("/") or ".." in parts or "." in parts or not parts:
        raise PermanentError(f"unsafe key {key!r} (absolute or with . / .. segments)")
    suffix = PurePosixPath(key).suffix.lower()
    if key.startswith((CLIP_PREFIX, IMAGE_PREFIX)) and suffix == SIDECAR_SUFFIX:
        return "sidecar"
    if key.startswith(CLIP_PREFIX) and suffix in CLIP_EXTENSIONS:
        return "clip"
    if key.startswith(IMAGE_PREFIX) and suffix in IMAGE_EXTENSIONS:
        return "image"
    raise PermanentError(
        f"key {key!r} is outside the configured prefixes: {CLIP_PREFIX} takes "
        f"{', '.join(sorted(CLIP_EXTENSIONS))}; {IMAGE_PREFIX} takes {', '.join(sorted(IMAGE_EXTENSIONS))}"
    )


def clip_id_for(key: str, event_id: str) -> str:
    """Readable, stable and unique per object version, folders included:
    ``clips/cam 1/drive 7/clip_001.mp4`` → ``cam-1-drive-7-clip-001-3f9c2a1b07``.

    The hash (of bucket, key and version) keeps two folders' ``clip_001.mp4`` apart even where the
    readable part, cut to its last 40 characters, is the same."""
    relative = PurePosixPath(key.split("/", 1)[-1])
    readable = str(relative.with_suffix("")) if relative.suffix else str(relative)
    stem = re.sub(r"[^a-z0-9]+", "-", readable.lower()).strip("-")[-40:].strip("-") or "upload"
    return f"{stem}-{event_id[:10]}"


@dataclass(frozen=True)
class UploadOptions:
    fps: float
    taxonomy: Taxonomy
    frame_attributes: dict[int, dict[str, str]]


def parse_sidecar(document: bytes) -> tuple[Taxonomy, dict[int, dict[str, str]]]:
    """``{"drive": {...}, "clip": {...}, "frames": {"30": {...}}}`` → taxonomy + per-frame attributes."""
    try:
        data = json.loads(document)
        taxonomy = Taxonomy(drive=data.get("drive", {}), clip=data.get("clip", {}))
        frames = {int(no): {str(k): str(v) for k, v in attrs.items()} for no, attrs in data.get("frames", {}).items()}
    except (ValueError, TypeError, AttributeError) as error:
        raise PermanentError(f"sidecar JSON is invalid: {error}") from None
    return taxonomy, frames


def handle_s3_object_created(event: S3ObjectCreated, deps: Deps) -> None:
    """Clips and images uploaded to the input bucket → frames in S3 → FramesExtracted."""
    kind = classify(event.bucket, event.key, deps.uploads_bucket)
    if kind == "sidecar":
        log.info("ingest.sidecar_seen", key=event.key)
        return
    if event.size == 0:
        raise MediaError("empty file (0 bytes)")
    if event.size > deps.settings.max_object_bytes:
        raise MediaError(f"{event.size:,} bytes exceeds the {deps.settings.max_object_bytes:,}-byte limit")
    head = _head(deps, event)
    if head is None:
        return
    options = _options(deps, event, head["Metadata"])
    clip_id = clip_id_for(event.key, event.event_id)
    started = time.perf_counter()
    with (
        FrameStore(
            deps.clients.s3,
            deps.data_bucket,
            clip_id,
            jpeg_quality=deps.settings.jpeg_quality,
            workers=deps.settings.upload_workers,
        ) as store,
        _discarding_on_permanent_error(store),
        tempfile.TemporaryDirectory(dir=deps.settings.work_dir, prefix="ingest-") as work,
    ):
        # A fixed local name: the key is untrusted and never becomes a path.
        local = Path(work) / ("upload" + PurePosixPath(event.key).suffix.lower())
        extra: dict[str, Any] = {"VersionId": event.version_id} if event.version_id else {}
        deps.clients.s3.download_file(event.bucket, event.key, str(local), ExtraArgs=extra)
        if kind == "image":
            refs = [_store_image(store, local, event=event, clip_id=clip_id, deps=deps, options=options)]
        else:
            _store_clip(store, local, options, deps.settings.max_pixels, deps.settings.max_frames)
            refs = store.finish()
        manifest_uri = store.write_manifest(refs, event.uri, options.taxonomy)
    batches = _events(
        event,
        clip_id=clip_id,
        refs=refs,
        manifest_uri=manifest_uri,
        taxonomy=options.taxonomy,
        per_event=deps.settings.frames_per_event,
    )
    deps.publisher.publish_all(batches)
    log.info(
        "ingest.extracted",
        clip_id=clip_id,
        kind=kind,
        frames=len(refs),
        events=len(batches),
        fps=options.fps,
        seconds=round(time.perf_counter() - started, 3),
    )


@contextmanager
def _discarding_on_permanent_error(store: FrameStore) -> Iterator[None]:
    """A media error deletes the frames already written: no partial frame set stays behind."""
    try:
        yield
    except PermanentError:
        store.discard()
        raise


def _head(deps: Deps, event: S3ObjectCreated) -> dict[str, Any] | None:
    """The object's metadata, or None when a newer version replaced it (its own event follows)."""
    args: dict[str, Any] = {"Bucket": event.bucket, "Key": event.key}
    if event.version_id:
        args["VersionId"] = event.version_id
    try:
        head: dict[str, Any] = dict(deps.clients.s3.head_object(**args))
    except ClientError as error:
        if error.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
            raise PermanentError(f"{event.uri} no longer exists") from None
        raise
    if event.etag and not event.version_id and head["ETag"].strip('"') != event.etag.strip('"'):
        log.info("ingest.superseded", key=event.key, reason="the object was overwritten; its newer event follows")
        return None
    return head


def _options(deps: Deps, event: S3ObjectCreated, metadata: dict[str, str]) -> UploadOptions:
    fps, taxonomy = options_from_metadata(metadata)
    frame_attributes: dict[int, dict[str, str]] = {}
    try:
        sidecar = deps.clients.s3.get_object(Bucket=event.bucket, Key=event.key + SIDECAR_SUFFIX)["Body"].read()
    except ClientError as error:
        if error.response["Error"]["Code"] not in {"404", "NoSuchKey"}:
            raise
    else:
        side_taxonomy, frame_attributes = parse_sidecar(sidecar)
        # Metadata set at upload time (the CLI's -t) wins over the sidecar, field by field.
        taxonomy = Taxonomy(drive=side_taxonomy.drive | taxonomy.drive, clip=side_taxonomy.clip | taxonomy.clip)
    return UploadOptions(fps=fps or deps.settings.default_fps, taxonomy=taxonomy, frame_attributes=frame_attributes)


def _store_image(
    store: FrameStore, local: Path, *, event: S3ObjectCreated, clip_id: str, deps: Deps, options: UploadOptions
) -> FrameRef:
    image = load_image(local, deps.settings.max_pixels)
    height, width = image.shape[:2]
    if sniff(local) == "jpeg":
        placeholder = FrameRef(
            uri=s3_uri(deps.data_bucket, clip_id),
            frame_no=0,
            timestamp_s=0.0,
            width=width,
            height=height,
            attributes=options.frame_attributes.get(0, {}),
        )
        return store.copy_jpeg(event.bucket, event.key, placeholder)
    store.add(DecodedFrame(0, 0.0, image), options.frame_attributes.get(0))
    [ref] = store.finish()
    return ref


def _store_clip(store: FrameStore, local: Path, options: UploadOptions, max_pixels: int, max_frames: int) -> None:
    info = probe(local, max_pixels)
    check_complete(info)
    expected = len(sample_times(info.last_frame_s, options.fps, float(info.average_rate)))
    if expected > max_frames:
        raise MediaError(f"{expected} frames at {options.fps} fps exceed the limit of {max_frames} per clip")
    for frame in sampled_frames(local, info, options.fps):
        store.add(frame, options.frame_attributes.get(frame.frame_no))


def _events(
    event: S3ObjectCreated,
    *,
    clip_id: str,
    refs: list[FrameRef],
    manifest_uri: str,
    taxonomy: Taxonomy,
    per_event: int,
) -> list[FramesExtracted]:
    batches = [refs[i : i + per_event] for i in range(0, len(refs), per_event)]
    return [
        FramesExtracted(
            event_id=deterministic_id("FramesExtracted", clip_id, index),
            correlation_id=clip_id,
            clip_id=clip_id,
            source_uri=event.uri,
            frames=batch,
            batch_index=index,
            batch_count=len(batches),
            total_frames=len(refs),
            manifest_uri=manifest_uri,
            taxonomy=taxonomy,
        )
        for index, batch in enumerate(batches)
    ]


HANDLERS: dict[type[Any], Handler[Any]] = {S3ObjectCreated: handle_s3_object_created}
