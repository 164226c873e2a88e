"""What an upload is: where clips and images go in the input bucket and how their options travel.

Shared by ``labelloop upload`` (which writes it) and ingest (which reads it), so the convention
lives in one place. Options ride as S3 user metadata: ``fps`` for the sampling-rate override and
``taxonomy-<level>-<field>`` for drive/clip-level taxonomy (``taxonomy-clip-weather: rain``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from labelloop.errors import PermanentError
from labelloop.events import Taxonomy

CLIP_PREFIX = "clips/"
IMAGE_PREFIX = "images/"
CLIP_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})
TAXONOMY_LEVELS = ("drive", "clip")
FPS_KEY = "fps"


def key_for(relative_path: str) -> str:
    """The input-bucket key of a file at ``relative_path`` (``cam 1/drive 7/clip_001.mp4`` →
    ``clips/cam 1/drive 7/clip_001.mp4``): folders are kept, so two drives' ``clip_001.mp4`` stay
    two clips. ValueError for unsupported types and for paths that leave their folder."""
    path = PurePosixPath(relative_path)
    if path.is_absolute() or not path.parts or any(part in {"..", "."} for part in path.parts):
        raise ValueError(f"{relative_path}: an upload key needs a relative path without . or .. segments")
    suffix = path.suffix.lower()
    if suffix in CLIP_EXTENSIONS:
        return CLIP_PREFIX + str(path)
    if suffix in IMAGE_EXTENSIONS:
        return IMAGE_PREFIX + str(path)
    supported = ", ".join(sorted(CLIP_EXTENSIONS | IMAGE_EXTENSIONS))
    raise ValueError(f"{relative_path}: unsupported file type {suffix or '(none)'!r}; supported: {supported}")


def is_supported(filename: str) -> bool:
    """Whether ``filename`` has a clip or image extension."""
    return PurePosixPath(filename).suffix.lower() in CLIP_EXTENSIONS | IMAGE_EXTENSIONS


def metadata_for(*, fps: float | None = None, taxonomy: Taxonomy | None = None) -> dict[str, str]:
    """S3 user metadata carrying an upload's options."""
    metadata: dict[str, str] = {}
    if fps is not None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        metadata[FPS_KEY] = repr(float(fps))
    if taxonomy is not None:
        for level in TAXONOMY_LEVELS:
            for name, value in getattr(taxonomy, level).items():
                metadata[f"taxonomy-{level}-{name}"] = value
    return metadata


def options_from_metadata(metadata: Mapping[str, str]) -> tuple[float | None, Taxonomy]:
    """Read back what :func:`metadata_for` wrote (S3 lower-cases metadata keys)."""
    fps: float | None = None
    if FPS_KEY in metadata:
        try:
            fps = float(metadata[FPS_KEY])
        except ValueError:
            raise PermanentError(f"metadata fps={metadata[FPS_KEY]!r} is not a number") from None
        if not fps > 0:
            raise PermanentError(f"metadata fps={metadata[FPS_KEY]!r} must be positive")
    levels: dict[str, dict[str, str]] = {level: {} for level in TAXONOMY_LEVELS}
    for key, value in metadata.items():
        parts = key.lower().split("-", 2)
        if len(parts) == 3 and parts[0] == "taxonomy" and parts[1] in levels:
            levels[parts[1]][parts[2]] = value
    return fps, Taxonomy(**levels)


def parse_taxonomy_assignments(assignments: list[str]) -> Taxonomy:
    """``["clip.weather=rain", "drive.id=d42"]`` → Taxonomy; raises ValueError on bad syntax."""
    levels: dict[str, dict[str, str]] = {level: {} for level in TAXONOMY_LEVELS}
    for assignment in assignments:
        target, sep, value = assignment.partition("=")
        level, dot, name = target.partition(".")
        if not sep or not dot or level not in levels or not name or not value:
            raise ValueError(
                f"{assignment!r}: expected LEVEL.FIELD=VALUE with LEVEL one of {', '.join(TAXONOMY_LEVELS)}"
            )
        levels[level][name.lower()] = value
    return Taxonomy(**levels)
