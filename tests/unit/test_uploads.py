"""The upload convention shared by `labelloop upload` and ingest."""

from __future__ import annotations

from pathlib import Path

import pytest
from labelloop import PermanentError, Taxonomy
from labelloop.uploads import key_for, metadata_for, options_from_metadata, parse_taxonomy_assignments
from labelloop_tools.cli._upload import plan_uploads


@pytest.mark.parametrize(
    ("filename", "key"),
    [
        ("drive/cabin.MP4", "clips/drive/cabin.MP4"),
        ("x.mkv", "clips/x.mkv"),
        ("a b.jpeg", "images/a b.jpeg"),
        ("p.PNG", "images/p.PNG"),
        ("cam 1/drive+7/100% é/clip_001.mp4", "clips/cam 1/drive+7/100% é/clip_001.mp4"),
    ],
)
def test_keys_follow_the_media_type_and_keep_folders(filename: str, key: str) -> None:
    """Clips go under clips/, images under images/, whatever the extension's case, with their folders."""
    assert key_for(filename) == key


@pytest.mark.parametrize("path", ["/abs/x.mp4", "../up/x.mp4", "a/../../x.mp4"])
def test_keys_never_leave_their_folder(path: str) -> None:
    """An absolute path or one with .. segments is refused, not turned into an odd key."""
    with pytest.raises(ValueError, match="relative path"):
        key_for(path)


@pytest.mark.parametrize("filename", ["notes.txt", "video.webm", "noext"])
def test_unsupported_types_are_refused_with_the_list(filename: str) -> None:
    """An unsupported file is a ValueError that names the supported types."""
    with pytest.raises(ValueError, match=r"supported: \.avi"):
        key_for(filename)


def test_metadata_round_trips_fps_and_taxonomy() -> None:
    """What the CLI writes as S3 metadata, ingest reads back (keys lower-cased as S3 does)."""
    taxonomy = Taxonomy(drive={"vehicle": "car-7"}, clip={"weather": "rain"})
    metadata = metadata_for(fps=0.5, taxonomy=taxonomy)
    assert options_from_metadata({k.lower(): v for k, v in metadata.items()}) == (0.5, taxonomy)


def test_metadata_without_options_means_defaults() -> None:
    """No metadata: no fps override, empty taxonomy; unrelated keys are ignored."""
    assert options_from_metadata({"other": "x", "taxonomy-frame-x": "y"}) == (None, Taxonomy())


@pytest.mark.parametrize("value", ["fast", "0", "-1", "nan"])
def test_bad_fps_metadata_is_permanent(value: str) -> None:
    """An fps override that is not a positive number cannot succeed on retry: PermanentError."""
    with pytest.raises(PermanentError, match="fps"):
        options_from_metadata({"fps": value})


def test_taxonomy_assignments_parse_and_reject_bad_syntax() -> None:
    """LEVEL.FIELD=VALUE pairs build a Taxonomy; anything else is a clear ValueError."""
    assert parse_taxonomy_assignments(["clip.Weather=rain", "drive.id=d1"]) == Taxonomy(
        drive={"id": "d1"}, clip={"weather": "rain"}
    )
    for bad in ["weather=rain", "frame.x=1", "clip.=x", "clip.x="]:
        with pytest.raises(ValueError, match=r"LEVEL\.FIELD=VALUE"):
            parse_taxonomy_assignments([bad])


def test_upload_plan_checks_everything_before_sending(tmp_path: Path) -> None:
    """Folders contribute only media; named unsupported files, missing paths and key clashes are errors."""
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"1234")
    (tmp_path / "clips" / "readme.txt").write_text("sidecar")
    (tmp_path / "b.png").write_bytes(b"12")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.mp4").write_bytes(b"1")
    planned, errors = plan_uploads([tmp_path / "clips", tmp_path / "b.png"])
    assert [(p.key, p.size) for p in planned] == [("clips/clips/a.mp4", 4), ("images/b.png", 2)]
    assert errors == []
    _, errors = plan_uploads([tmp_path / "clips" / "readme.txt", tmp_path / "missing.mp4"])
    assert any("unsupported file type '.txt'" in e for e in errors)
    assert any("missing.mp4: no such file" in e for e in errors)
    _, errors = plan_uploads([tmp_path / "clips", tmp_path / "clips"])
    assert errors == ["clips/clips/a.mp4: several files would upload to this key"]


def test_same_basename_in_two_folders_makes_two_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`labelloop upload "cam 1/"` keeps each drive's folder: two clip_001.mp4 are two keys, and a
    relative argument keeps the path as typed."""
    for drive in ("drive 7", "drive+8"):
        (tmp_path / "cam 1" / drive).mkdir(parents=True)
        (tmp_path / "cam 1" / drive / "clip_001.mp4").write_bytes(b"1")
    monkeypatch.chdir(tmp_path)
    planned, errors = plan_uploads([Path("cam 1/")])
    assert errors == []
    assert [p.key for p in planned] == ["clips/cam 1/drive 7/clip_001.mp4", "clips/cam 1/drive+8/clip_001.mp4"]
    absolute, _ = plan_uploads([tmp_path / "cam 1" / "drive 7"])
    assert [p.key for p in absolute] == ["clips/drive 7/clip_001.mp4"]
