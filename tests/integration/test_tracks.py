"""Person tracks across a clip's batches: real inference workers on the real Triton and moto.

A synthetic cabin clip (its people keep their seats while they move, so identities are known) is
announced in batches the way ingest announces it, published last batch first to workers that take
them at once: the tracked predictions must come out as one uninterrupted tracker's, every frame
once, identities kept. On a real clip of pedestrians, tracks follow people across the square.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import pytest
from botocore.exceptions import ClientError
from labelloop import (
    AwsClients,
    EventPublisher,
    FramePredictions,
    FrameRef,
    FramesExtracted,
    Person,
    PredictionsReady,
    StackNames,
    build_worker,
)
from labelloop.model_set import read_set_folder
from labelloop.provision import ProvisionedStack
from labelloop.synth import render
from labelloop.synth.clips import clip_scenes
from labelloop.synth.scene import Rendered
from labelloop.visibility import Thresholds, decode_frame, iou
from labelloop.yolo import PixelArray, batch
from labelloop_inference.entrypoint import SERVICE
from labelloop_inference.settings import InferenceSettings
from labelloop_inference.tracks import ClipTracker, person_boxes
from labelloop_inference.triton import TritonModels
from labelloop_tools.local.triton import TritonServer

from tests.helpers import (
    dead_letter_reasons,
    drain,
    eventually,
    real_model_set,
    serve_set,
    triton_serving,
    worker_running,
)
from tests.media import vtest_avi
from tests.tracking import id_switches

pytestmark = pytest.mark.integration
DATA = "test-data"
SHIPPED_MODELS = Path(__file__).parents[2] / "models" / "initial"
BATCH = 8


@pytest.fixture(scope="module")
def shipped_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    with triton_serving(SHIPPED_MODELS, tmp_path_factory.mktemp("triton-tracks")) as server:
        yield server


def clip_batches(aws: AwsClients, clip: str, frames: int, seed: int) -> tuple[list[FramesExtracted], list[Rendered]]:
    """The clip's frames as JPEGs in the data bucket and its batches as ingest announces them."""
    rendered = [render(scene) for scene in clip_scenes(seed, frames)]
    refs = []
    for index, frame in enumerate(rendered):
        key = f"frames/{clip}/{index:06d}.jpg"
        aws.s3.put_object(Bucket=DATA, Key=key, Body=cv2.imencode(".jpg", frame.image)[1].tobytes())
        refs.append(FrameRef(uri=f"s3://{DATA}/{key}", frame_no=index, timestamp_s=index / 2, width=320, height=240))
    chunks = [refs[start : start + BATCH] for start in range(0, frames, BATCH)]
    events = [
        FramesExtracted(
            correlation_id=clip,
            clip_id=clip,
            source_uri=f"s3://test-uploads/clips/{clip}.mp4",
            frames=chunk,
            batch_index=index,
            batch_count=len(chunks),
            total_frames=frames,
            manifest_uri=f"s3://{DATA}/frames/{clip}/manifest.jsonl",
        )
        for index, chunk in enumerate(chunks)
    ]
    return events, rendered


def run_workers(aws: AwsClients, server: TritonServer, events: list[FramesExtracted]) -> int:
    """Publish ``events`` and run the inference worker until each is handled or dead-lettered."""
    serve_set(aws, 1, read_set_folder(SHIPPED_MODELS))
    settings = InferenceSettings(stack="test", poll_wait_s=1, triton_url=server.http_url, concurrency=3)
    publisher = EventPublisher.for_stack(aws, StackNames("test"))
    with worker_running(build_worker(SERVICE, settings, aws)) as worker:
        for event in events:
            publisher.publish(event)

        def finished() -> bool:
            return worker.counts["handled"] + worker.counts["dead_lettered"] >= len(events)

        eventually(finished, timeout_s=240)
        return worker.counts["dead_lettered"]


def frames_out(aws: AwsClients, stack: ProvisionedStack) -> dict[int, list[FramePredictions]]:
    """Each frame number's predictions as published, once per time it was published."""
    ready = [e for e in drain(aws, stack.queue_urls["selector"]) if isinstance(e, PredictionsReady)]
    by_frame: dict[int, list[FramePredictions]] = {}
    for predictions in (p for event in ready for p in event.predictions):
        by_frame.setdefault(predictions.frame.frame_no, []).append(predictions)
    return by_frame


def test_batches_taken_at_once_come_out_as_one_tracked_clip(
    aws: AwsClients, stack: ProvisionedStack, shipped_triton: TritonServer
) -> None:
    events, rendered = clip_batches(aws, "cabin", 40, seed=321)
    assert run_workers(aws, shipped_triton, list(reversed(events))) == 0
    by_frame = frames_out(aws, stack)
    assert sorted(by_frame) == list(range(40)), "every frame once"
    assert all(len(published) == 1 for published in by_frame.values()), "no frame published twice"
    frames = [by_frame[n][0] for n in range(40)]

    # What one uninterrupted tracker makes of the same persons, batch after batch, ids and temporal
    # changes: the order of the workers did not matter.
    tracker, expected = ClipTracker(), []
    for event in events:
        batch = [frames[ref.frame_no] for ref in event.frames]
        expected += tracker.follow_frames([([p.model_copy(update={"track_id": None, "temporal_change": None})
                                             for p in f.persons], f.frame.timestamp_s) for f in batch])  # fmt: skip
    assert [f.persons for f in frames] == expected
    later = [p for f in frames[1:] for p in f.persons if p.track_id is not None]
    assert later, "people tracked after the first frame"
    assert all(p.temporal_change is not None for p in later), "tracked people have a temporal change"
    assert sum(p.temporal_change or 0 for p in later) / len(later) < 0.2, "seated people move little"

    # Identities (seats) kept: each true person matched to the predicted person over it.
    seen = []
    for frame, truth in zip(frames, rendered, strict=True):
        matches = {}
        for seat, person in enumerate(truth.persons):
            best = max(frame.persons, key=lambda p: iou(person.box, _box(p)), default=None)
            if best is not None and iou(person.box, _box(best)) > 0.5:
                matches[seat] = best.track_id
        seen.append(matches)
    assert sum(len(m) for m in seen) >= 0.8 * sum(len(r.persons) for r in rendered), "the people were found"
    assert id_switches(seen) == 0  # at most one per 100 frames: none in 40
    assert all(None not in m.values() for m in seen[1:]), "everyone found is tracked after the first frame"

    # Tracking left its snapshots next to the frames: the last batch's says how far the clip got.
    last = aws.s3.get_object(Bucket=DATA, Key=f"tracking/cabin/tracker-{len(events) - 1:05d}.json")
    assert json.loads(last["Body"].read())["frame_id"] == 40


def test_a_batch_that_fails_for_good_does_not_hold_up_its_clip(
    aws: AwsClients, stack: ProvisionedStack, shipped_triton: TritonServer
) -> None:
    events, _ = clip_batches(aws, "gap", 24, seed=99)
    aws.s3.delete_object(Bucket=DATA, Key="frames/gap/000009.jpg")  # batch 1 cannot be predicted
    assert run_workers(aws, shipped_triton, events) == 1
    [reason] = dead_letter_reasons(aws, stack, "inference")
    assert "frames/gap/000009.jpg" in reason
    by_frame = frames_out(aws, stack)
    assert sorted(by_frame) == [*range(8), *range(16, 24)], "batches 0 and 2 published, batch 1 passed over"
    assert any(p.track_id is not None for p in by_frame[23][0].persons), "tracking went on after the gap"


def _box(person: Person) -> tuple[float, float, float, float]:
    return (person.box.left, person.box.top, person.box.width, person.box.height)


def test_a_batch_whose_message_never_completes_is_passed_over_once_its_clip_stalls(
    aws: AwsClients, stack: ProvisionedStack, shipped_triton: TritonServer
) -> None:
    """Batch 1 never arrives (a message dead-lettered by a worker that crashed on it each time): after
    TRACKING_STALL_S without progress the periodic task passes over it and batch 2 goes out; when
    batch 1 comes back (the dead letter replayed) it goes out too."""
    events, _ = clip_batches(aws, "lost", 24, seed=7)
    serve_set(aws, 1, read_set_folder(SHIPPED_MODELS))
    settings = InferenceSettings(stack="test", poll_wait_s=1, triton_url=shipped_triton.http_url,
                                 tracking_stall_s=4, tracking_sweep_s=1)  # fmt: skip
    publisher = EventPublisher.for_stack(aws, StackNames("test"))
    waiting = "tracking/waiting/lost.json"
    published: dict[int, list[FramePredictions]] = {}

    def frames_published() -> list[int]:
        for frame_no, predictions in frames_out(aws, stack).items():
            published.setdefault(frame_no, []).extend(predictions)
        return sorted(published)

    with worker_running(build_worker(SERVICE, settings, aws)) as worker:
        publisher.publish(events[2])
        eventually(lambda: worker.counts["handled"] >= 1, timeout_s=120)
        assert aws.s3.head_object(Bucket=DATA, Key=waiting), "batch 2 waits for batch 1 and says so"
        publisher.publish(events[0])
        eventually(lambda: frames_published() == list(range(8)), timeout_s=120)
        eventually(lambda: frames_published() == [*range(8), *range(16, 24)], timeout_s=120)
        with pytest.raises(ClientError):
            aws.s3.head_object(Bucket=DATA, Key=waiting)
        publisher.publish(events[1])
        eventually(lambda: frames_published() == list(range(24)), timeout_s=120)
    assert all(len(p) == 1 for p in published.values()), "every frame published once"
    assert any(p.track_id is not None for p in published[15][0].persons), "the late batch is tracked too"


def test_on_a_real_clip_people_keep_one_id_while_they_cross_the_square(tmp_path: Path) -> None:
    """OpenCV's vtest.avi (Debian's opencv-doc), 20 s from 48 s in, every frame (10 fps), through the
    real set on Triton and the tracker: the people it follows long are followed for most of their
    walk across, and no id ever jumps from one person to another (consecutive boxes of an id overlap)."""
    images = []
    with av.open(str(vtest_avi())) as container:
        for index, image in enumerate(container.decode(container.streams.video[0])):
            if index >= 480:
                images.append(image.to_ndarray(format="bgr24"))
            if len(images) == 200:
                break
    predictions = served_predictions(real_model_set(), images, tmp_path)
    tracker = ClipTracker()
    boxes: dict[int, list[tuple[int, tuple[float, float, float, float]]]] = {}
    for frame_no, frame in enumerate(predictions):
        for person, track in zip(frame.persons, tracker.update(person_boxes(frame.persons)), strict=True):
            if track is not None:
                boxes.setdefault(track, []).append((frame_no, _box(person)))
    long_walks = [track for track, seen in boxes.items() if len(seen) >= 140]
    assert len(long_walks) >= 2, {track: len(seen) for track, seen in boxes.items()}
    for track, seen in boxes.items():
        for (before, box), (after, next_box) in itertools.pairwise(seen):
            assert after - before > 1 or iou(box, next_box) > 0.1, f"track {track} jumped at frame {after}"


def served_predictions(folder: Path, images: list[PixelArray], work: Path) -> list[FramePredictions]:
    """The real set's predictions of ``images`` through Triton, decoded as the inference service does."""
    model_set = read_set_folder(folder)
    height, width = images[0].shape[:2]
    out: list[FramePredictions] = []
    with triton_serving(folder, work) as server:
        models = TritonModels(server.http_url)
        try:
            for start in range(0, len(images), BATCH):
                tensor, fits = batch(images[start : start + BATCH], model_set.imgsz)
                [outputs] = models.infer([tensor], model_set.versions())
                for index, fit in enumerate(fits):
                    frame = FrameRef(uri=f"s3://{DATA}/frames/vtest/{start + index:06d}.jpg", frame_no=start + index,
                                     timestamp_s=(start + index) / 10, width=width, height=height)  # fmt: skip
                    out.append(decode_frame(outputs, index, fit, frame, rig=model_set.rig, thresholds=Thresholds()))
        finally:
            models.close()
    return out
