"""``labelloop upload``: clips and images into the input bucket, with a progress bar."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from boto3.s3.transfer import TransferConfig
from labelloop.s3_uri import s3_uri
from labelloop.uploads import is_supported, key_for

from labelloop_tools.cli._target import Target

# Multipart uploads make S3 emit more than one notification on some emulators; below this size
# one PUT is simpler and as fast on loopback. Real clips above it still go multipart.
_TRANSFER = TransferConfig(multipart_threshold=64 * 1024 * 1024)


@dataclass(frozen=True)
class PlannedUpload:
    path: Path
    key: str
    size: int


def upload_path(argument: Path, file: Path) -> PurePosixPath:
    """The path a file keeps in its key: as the user named it, when that is relative and stays in
    the working folder (``cam 1/drive 7/clip_001.mp4``); otherwise from the named folder (or file)
    on (``/media/drive 7/x.mp4`` named as ``/media/drive 7`` → ``drive 7/x.mp4``)."""
    named = PurePosixPath(argument.as_posix())
    if not named.is_absolute() and ".." not in named.parts:
        return PurePosixPath(file.as_posix())
    base = argument.resolve()
    return (
        PurePosixPath(base.name) / file.resolve().relative_to(base).as_posix()
        if argument.is_dir()
        else PurePosixPath(file.name)
    )


def plan_uploads(paths: Iterable[Path]) -> tuple[list[PlannedUpload], list[str]]:
    """Expand directories, map files to keys; return (uploads, errors). Nothing is sent here.

    Keys keep the folders (:func:`upload_path`). A file named explicitly with an unsupported type
    is an error; inside a directory such files are skipped, since folders of clips often hold
    sidecar files.
    """
    planned: list[PlannedUpload] = []
    errors: list[str] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and is_supported(p.name))
        elif path.is_file():
            files = [path]
        else:
            errors.append(f"{path}: no such file or directory")
            continue
        for file in files:
            try:
                planned.append(PlannedUpload(file, key_for(str(upload_path(path, file))), file.stat().st_size))
            except ValueError as error:
                errors.append(str(error))
    keys = [p.key for p in planned]
    errors += [f"{k}: several files would upload to this key" for k in sorted(set(keys)) if keys.count(k) > 1]
    return planned, errors


def upload(
    target: Target,
    planned: PlannedUpload,
    metadata: dict[str, str],
    on_bytes: Callable[[int], None],
) -> str:
    """Upload one file to the stack's input bucket; returns its S3 URI."""
    bucket = target.names.physical("uploads")
    content_type = mimetypes.guess_type(planned.path.name)[0] or "application/octet-stream"
    target.clients.s3.upload_file(
        str(planned.path),
        bucket,
        planned.key,
        ExtraArgs={"Metadata": metadata, "ContentType": content_type},
        Callback=on_bytes,
        Config=_TRANSFER,
    )
    return s3_uri(bucket, planned.key)
