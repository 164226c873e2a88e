"""ingest end to end on a real moto server: S3 upload → worker → JPEG frames, manifest, events."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from labelloop import AwsClients, FramesExtracted, build_worker, parse_body
from labelloop.portal_api import PortalJob
from labelloop.provision import ProvisionedStack
from labelloop.synth import store_truth, write_clip
from labelloop_ingest.entrypoint import SERVICE
from labelloop_ingest.media import probe, sampled_frames
from labelloop_ingest.settings import IngestSettings
from labelloop_portal.annotator import SimulatedAnnotator

from tests.helpers import dead_letter_reasons, eventually, worker_running
from tests.media import audio_only, h264_clip, image, opencv_sample, vtest_avi

pytestmark = pytest.mark.integration
UPLOADS, DATA = "test-uploads", "test-data"


@pytest.fixture
def ingest(aws: AwsClients, stack: ProvisionedStack) -> Callable[..., Iterator[Any]]:
    """Start the real ingest worker (settings overridable) for the duration of a with-block."""

    def start(**overrides: Any) -> Any:
        settings = IngestSettings(stack="test", poll_wait_s=1, **overrides)
        return worker_running(build_worker(SERVICE, settings, aws))

    return start  # type: ignore[return-value]


def upload(aws: AwsClients, path: Path, key: str, metadata: dict[str, str] | None = None) -> None:
    aws.s3.upload_file(str(path), UPLOADS, key, ExtraArgs={"Metadata": metadata or {}})


def extracted(
    aws: AwsClients, stack: ProvisionedStack, *, batches: int = 1, timeout_s: float = 60
) -> list[FramesExtracted]:
    """FramesExtracted events that reached inference's queue, once ``batches`` have arrived."""
    found: list[FramesExtracted] = []

    def arrived() -> bool:
        for message in aws.sqs.receive_message(
            QueueUrl=stack.queue_urls["inference"], MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            [event] = parse_body(message["Body"])
            assert isinstance(event, FramesExtracted)
            found.append(event)
        return len(found) >= batches

    eventually(arrived, timeout_s=timeout_s)
    return sorted(found, key=lambda e: e.batch_index)


def frame_keys(aws: AwsClients) -> list[str]:
    pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=DATA, Prefix="frames/")
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


@pytest.mark.parametrize(("fps", "count", "step"), [(1.0, 80, 10), (0.5, 40, 20)])
def test_vtest_avi_exact_frames_and_timestamps(
    aws: AwsClients, stack: ProvisionedStack, ingest: Any, fps: float, count: int, step: int
) -> None:
    """OpenCV's vtest.avi (10 fps, 79.5 s): exactly the frames k*step at k*step/10 s, as JPEGs in S3."""
    with ingest(default_fps=fps, frames_per_event=32):
        upload(aws, vtest_avi(), "clips/vtest.avi")
        events = extracted(aws, stack, batches=-(-count // 32))
    frames = [f for e in events for f in e.frames]
    assert [f.frame_no for f in frames] == [k * step for k in range(count)]
    assert [f.timestamp_s for f in frames] == pytest.approx([k * step / 10 for k in range(count)])
    assert {(f.width, f.height) for f in frames} == {(768, 576)}
    assert {e.total_frames for e in events} == {count}
    assert [e.batch_index for e in events] == list(range(len(events)))
    clip_id = events[0].clip_id
    assert frames[3].uri == f"s3://{DATA}/frames/{clip_id}/{3 * step:06d}.jpg"
    jpeg = aws.s3.get_object(Bucket=DATA, Key=f"frames/{clip_id}/{3 * step:06d}.jpg")["Body"].read()
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (576, 768, 3)
    manifest = aws.s3.get_object(Bucket=DATA, Key=f"frames/{clip_id}/manifest.jsonl")["Body"].read().decode()
    lines = [json.loads(line) for line in manifest.splitlines()]
    assert [line["frame_no"] for line in lines] == [f.frame_no for f in frames]
    assert lines[0]["source_uri"] == f"s3://{UPLOADS}/clips/vtest.avi"


@pytest.mark.parametrize(("fps", "frame_nos"), [("1", [0, 30, 60, 90, 120, 150]), ("0.5", [0, 60, 120])])
def test_h264_clip_with_per_upload_fps_override(
    aws: AwsClients, stack: ProvisionedStack, ingest: Any, tmp_path: Path, fps: str, frame_nos: list[int]
) -> None:
    """A generated 6 s H.264/MP4 (30 fps, B-frames): the upload's fps metadata overrides the default."""
    clip = h264_clip(tmp_path / "clip.mp4", seconds=6)
    with ingest(default_fps=5.0):
        upload(aws, clip, "clips/cabin 01 (rain).mp4", {"fps": fps, "taxonomy-clip-weather": "rain"})
        [event] = extracted(aws, stack)
    assert [f.frame_no for f in event.frames] == frame_nos
    assert [f.timestamp_s for f in event.frames] == pytest.approx([n / 30 for n in frame_nos])
    assert event.taxonomy.clip == {"weather": "rain"}
    assert event.source_uri == f"s3://{UPLOADS}/clips/cabin 01 (rain).mp4"
    assert event.clip_id.startswith("cabin-01-rain-")


@pytest.mark.parametrize("clip_name", ["vtest.avi", "Megamind.avi", "h264"])
def test_seeking_and_linear_decoding_give_identical_frames(tmp_path: Path, clip_name: str) -> None:
    """The keyframe-seeking path yields the very frames (pixel for pixel) a full linear decode picks,
    at rates below, near and above the keyframe spacing — including Megamind.avi, whose first frame
    has pts 1, whose keyframes seek by decode time and whose decoder emits the last frames out of order."""
    clip = h264_clip(tmp_path / "c.mp4", seconds=5, gop=12) if clip_name == "h264" else opencv_sample(clip_name)
    info = probe(clip, 40_000_000)
    for fps in (0.3, 1.0, 4.0, 7.0):
        auto = list(sampled_frames(clip, info, fps, "auto"))
        linear = list(sampled_frames(clip, info, fps, "linear"))
        assert [f.frame_no for f in auto] == [f.frame_no for f in linear]
        assert all(np.array_equal(a.image, b.image) for a, b in zip(auto, linear, strict=True))
    every = [f.frame_no for f in sampled_frames(clip, info, 1000.0)]
    assert every == list(range(len(every)))
    assert len(every) == round(info.last_frame_s * float(info.average_rate)) + 1


@pytest.mark.parametrize(("name", "writer"), [("cabin.png", "png"), ("cabin.jpg", "jpg")])
def test_still_images_pass_through_as_one_frame(
    aws: AwsClients, stack: ProvisionedStack, ingest: Any, tmp_path: Path, name: str, writer: str
) -> None:
    """An image is frame 0 at 0 s; a JPEG is stored byte for byte, a PNG is converted to JPEG."""
    path = image(tmp_path / name, size=(64, 48))
    with ingest():
        upload(aws, path, f"images/{name}")
        [event] = extracted(aws, stack)
    [frame] = event.frames
    assert (frame.frame_no, frame.timestamp_s, frame.width, frame.height) == (0, 0.0, 64, 48)
    stored = aws.s3.get_object(Bucket=DATA, Key=f"frames/{event.clip_id}/000000.jpg")["Body"].read()
    assert stored.startswith(b"\xff\xd8\xff")
    if writer == "jpg":
        assert stored == path.read_bytes()


def test_sidecar_taxonomy_and_frame_attributes(
    aws: AwsClients, stack: ProvisionedStack, ingest: Any, tmp_path: Path
) -> None:
    """A JSON sidecar beside the clip adds drive/clip taxonomy and frame attributes; metadata wins on clashes."""
    clip = h264_clip(tmp_path / "clip.mp4", seconds=2)
    sidecar = {
        "drive": {"vehicle": "car-7"},
        "clip": {"weather": "sun", "scene": "urban"},
        "frames": {"30": {"tag": "x"}},
    }
    aws.s3.put_object(Bucket=UPLOADS, Key="clips/clip.mp4.json", Body=json.dumps(sidecar).encode())
    with ingest():
        upload(aws, clip, "clips/clip.mp4", {"taxonomy-clip-weather": "rain"})
        [event] = extracted(aws, stack)
    assert event.taxonomy.drive == {"vehicle": "car-7"}
    assert event.taxonomy.clip == {"weather": "rain", "scene": "urban"}
    assert [f.attributes for f in event.frames] == [{}, {"tag": "x"}]
    # The frame manifest keeps the scene for exports (COCO images' attributes).
    manifest = aws.s3.get_object(Bucket=DATA, Key=f"frames/{event.clip_id}/manifest.jsonl")["Body"].read().decode()
    [first, second] = [json.loads(line) for line in manifest.splitlines()]
    assert first["taxonomy"] == {"drive": {"vehicle": "car-7"}, "clip": {"weather": "rain", "scene": "urban"}}
    assert second["attributes"] == {"tag": "x"}


def test_repeated_notification_publishes_nothing_new(
    aws: AwsClients, stack: ProvisionedStack, ingest: Any, tmp_path: Path
) -> None:
    """The same S3 event delivered again (at-least-once) is acknowledged without new events."""
    body = ""
    with ingest():
        upload(aws, image(tmp_path / "a.png"), "images/a.png")
        extracted(aws, stack)
        # Re-deliver the very notification S3 sent, as SQS would after a lost delete.
        listing = aws.s3.head_object(Bucket=UPLOADS, Key="images/a.png")
        body = json.dumps(
            {
                "Records": [
                    {
                        "eventSource": "aws:s3",
                        "eventName": "ObjectCreated:Put",
                        "s3": {
                            "bucket": {"name": UPLOADS},
                            "object": {"key": "images/a.png", "size": 10, "eTag": listing["ETag"].strip('"')},
                        },
                    }
                ]
            }
        )
        aws.sqs.send_message(QueueUrl=stack.queue_urls["ingest"], MessageBody=body)
        eventually(
            lambda: (
                aws.sqs.get_queue_attributes(
                    QueueUrl=stack.queue_urls["ingest"],
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"]
                == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
            )
        )
    again = aws.sqs.receive_message(QueueUrl=stack.queue_urls["inference"], WaitTimeSeconds=2).get("Messages", [])
    assert again == []
    assert dead_letter_reasons(aws, stack, "ingest") == []


def _truncated_avi(tmp_path: Path) -> Path:
    data = vtest_avi().read_bytes()
    path = tmp_path / "cut.avi"
    path.write_bytes(data[: len(data) // 2])
    return path


def _png_named_mp4(tmp_path: Path) -> Path:
    path = tmp_path / "fake.mp4"
    path.write_bytes(image(tmp_path / "x.png").read_bytes())
    return path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 10)
    return path


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    return path


def _corrupt_png(tmp_path: Path) -> Path:
    path = tmp_path / "broken.png"
    path.write_bytes(image(tmp_path / "ok.png").read_bytes()[:40])
    return path


@pytest.mark.parametrize(
    ("make", "key", "reason", "overrides"),
    [
        (_empty, "clips/empty.mp4", "empty file (0 bytes)", {}),
        (_truncated_avi, "clips/cut.avi", "truncated video", {}),
        (_text, "clips/notes.mp4", "not a decodable video", {}),
        (_png_named_mp4, "clips/fake.mp4", "the file is a still image, not a clip", {}),
        (lambda p: audio_only(p / "a.mkv"), "clips/sound.mkv", "no video stream", {}),
        (lambda p: vtest_avi(), "clips/huge.avi", "exceeds the limit of 100,000 pixels", {"max_pixels": 100_000}),
        (lambda p: vtest_avi(), "clips/long.avi", "exceed the limit of 50 per clip", {"max_frames": 50}),
        (_corrupt_png, "images/broken.png", "corrupt image", {}),
        (_text, "images/notes.jpg", "not a JPEG or PNG image", {}),
        (_text, "elsewhere/notes.mp4", "outside the configured prefixes", {}),
    ],
)
def test_bad_uploads_end_in_the_dlq_with_a_reason_and_leave_nothing(
    aws: AwsClients,
    stack: ProvisionedStack,
    ingest: Any,
    tmp_path: Path,
    make: Callable[[Path], Path],
    key: str,
    reason: str,
    overrides: dict[str, Any],
) -> None:
    """Empty, truncated, mislabelled, audio-only, oversized or misplaced uploads: DLQ with the reason,
    no frames left in S3, no FramesExtracted — and the next good upload still flows."""
    with ingest(**overrides):
        upload(aws, make(tmp_path), key)
        reasons = eventually(lambda: dead_letter_reasons(aws, stack, "ingest"), timeout_s=30)
        upload(aws, image(tmp_path / "good.png"), "images/good.png")
        [event] = extracted(aws, stack)
    assert len(reasons) == 1
    assert reason in reasons[0]
    assert event.source_uri.endswith("images/good.png")
    assert frame_keys(aws) == [f"frames/{event.clip_id}/000000.jpg", f"frames/{event.clip_id}/manifest.jsonl"]


def test_a_synthetic_clip_is_ingested_and_its_frames_find_their_hidden_truth(
    aws: AwsClients, stack: ProvisionedStack, ingest: Callable[..., Any], tmp_path: Path
) -> None:
    """A rendered cabin clip (H.264) goes through ingest at 2 fps; the simulated annotator answers
    each extracted frame with that source frame's truth, not the pre-annotation."""
    rendered = write_clip(tmp_path / "cabin.mp4", 21, seconds=2, fps=10)
    store_truth(aws.s3, DATA, "clips/cabin.mp4", rendered, fps=10)
    with ingest():
        upload(aws, tmp_path / "cabin.mp4", "clips/cabin.mp4", {"fps": "2"})
        [event] = extracted(aws, stack)
    assert [f.frame_no for f in event.frames] == [0, 5, 10, 15]
    annotator = SimulatedAnnotator(aws.s3, delay_s=0, error_rate=0, abandon_rate=0, seed=0)
    job = PortalJob(name="j", modality="head", level=1, label_attribute="head", input_topic_arn="a",
                    output_topic_arn="b", output_s3_uri="s3://test-data/labeling", task_lifetime_s=60,
                    task_time_limit_s=60, max_concurrent_tasks=1, created_at=0, last_activity_at=0)  # fmt: skip
    for frame in event.frames:
        label = annotator.answer(str(frame.frame_no), {"source-ref": frame.uri}, job, now=0.0)
        truth = [p.head for p in rendered[frame.frame_no].persons if p.head]
        boxes = [(a["left"], a["top"], a["width"], a["height"]) for a in label["head"]["annotations"]]
        assert boxes == [tuple(round(v) for v in head) for head in truth]
        assert "labelloop-answer-source" not in label["head-metadata"]
