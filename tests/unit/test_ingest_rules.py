"""ingest's pure rules: what a key is, clip ids, sidecars, sampling times."""

from __future__ import annotations

import pytest
from labelloop import PermanentError, Taxonomy
from labelloop_ingest.handlers import classify, clip_id_for, parse_sidecar
from labelloop_ingest.media import sample_times

BUCKET = "labelloop-uploads"


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("clips/a.mp4", "clip"),
        ("clips/drive 7/b.MKV", "clip"),
        ("images/c.jpeg", "image"),
        ("images/d.PNG", "image"),
        ("clips/a.mp4.json", "sidecar"),
    ],
)
def test_keys_under_the_configured_prefixes_are_accepted(key: str, kind: str) -> None:
    """Clips under clips/, images under images/, JSON sidecars beside either."""
    assert classify(BUCKET, key, BUCKET) == kind


@pytest.mark.parametrize(
    ("bucket", "key", "reason"),
    [
        ("someone-elses", "clips/a.mp4", "outside the configured input bucket"),
        (BUCKET, "other/a.mp4", "outside the configured prefixes"),
        (BUCKET, "clips/a.png", "outside the configured prefixes"),
        (BUCKET, "images/a.mp4", "outside the configured prefixes"),
        (BUCKET, "clips/a.txt", "outside the configured prefixes"),
        (BUCKET, "clips/../../etc/passwd.mp4", "unsafe key"),
        (BUCKET, "/clips/a.mp4", "unsafe key"),
    ],
)
def test_other_keys_are_permanent_errors(bucket: str, key: str, reason: str) -> None:
    """Wrong bucket, wrong prefix or extension, path traversal: refused with a reason, never retried."""
    with pytest.raises(PermanentError, match=reason):
        classify(bucket, key, BUCKET)


def test_clip_ids_are_readable_safe_and_version_specific() -> None:
    """The id keeps a slug of the file name and differs per object version."""
    assert clip_id_for("clips/Cabin 01 (rain).mp4", "3f9c2a1b07aa") == "cabin-01-rain-3f9c2a1b07"
    assert clip_id_for("clips/日本.mp4", "abcdef0123") == "upload-abcdef0123"
    assert clip_id_for("clips/a.mp4", "1111111111") != clip_id_for("clips/a.mp4", "2222222222")
    assert clip_id_for("clips/cam 1/drive 7/clip_001.mp4", "abcdef0123") == "cam-1-drive-7-clip-001-abcdef0123"
    long_id = clip_id_for("clips/" + "very-long-folder-name/" * 4 + "clip_001.mp4", "abcdef0123")
    assert long_id.endswith("-folder-name-clip-001-abcdef0123")
    assert len(long_id) <= 40 + 11


def test_sidecar_gives_taxonomy_and_frame_attributes() -> None:
    """A sidecar sets drive/clip taxonomy and attributes of individual frames."""
    taxonomy, frames = parse_sidecar(b'{"drive": {"id": "d1"}, "clip": {"scene": "urban"}, "frames": {"30": {"x": 1}}}')
    assert taxonomy == Taxonomy(drive={"id": "d1"}, clip={"scene": "urban"})
    assert frames == {30: {"x": "1"}}


@pytest.mark.parametrize("document", [b"{oops", b"[]", b'{"frames": {"x": {}}}', b'{"clip": 3}'])
def test_bad_sidecars_are_permanent(document: bytes) -> None:
    """A sidecar that is not the documented shape is a PermanentError naming the sidecar."""
    with pytest.raises(PermanentError, match="sidecar JSON is invalid"):
        parse_sidecar(document)


@pytest.mark.parametrize(
    ("last_frame", "fps", "source_fps", "expected"),
    [
        (79.4, 1.0, 10.0, [float(k) for k in range(80)]),  # vtest.avi: 795 frames at 10 fps
        (79.4, 0.5, 10.0, [2.0 * k for k in range(40)]),
        (299 / 30, 1.0, 30.0, [float(k) for k in range(10)]),  # 10 s at 30 fps
        (5 / 30, 1.0, 30.0, [0.0]),
        (0.8, 60.0, 5.0, [k / 5 for k in range(5)]),  # never faster than the source
        (270 / 23.976, 7.0, 23.976, [k / 7 for k in range(79)]),  # the last target needs a frame
        (1.0, 2.0, 30.0, [0.0, 0.5, 1.0]),  # a target on the last frame counts
    ],
)
def test_sample_times(last_frame: float, fps: float, source_fps: float, expected: list[float]) -> None:
    """k / fps for every k whose nearest frame exists, never faster than the source itself."""
    assert sample_times(last_frame, fps, source_fps) == pytest.approx(expected)
