"""``s3://bucket/key`` URIs: made and split in one place."""

from __future__ import annotations

SCHEME = "s3://"


def s3_uri(bucket: str, key: str) -> str:
    """``s3://<bucket>/<key>``."""
    return f"{SCHEME}{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://<bucket>/<key>``; a ValueError names anything else."""
    if not uri.startswith(SCHEME):
        raise ValueError(f"not an S3 URI (s3://bucket/key): {uri!r}")
    bucket, _, key = uri.removeprefix(SCHEME).partition("/")
    if not bucket:
        raise ValueError(f"S3 URI without a bucket: {uri!r}")
    return bucket, key
