"""inference through the real Triton server and the real moto server.

Crafted models (fixed raw outputs) pin down decoding and the visibility rule exactly; the
shipped models show that real weights find real people; a Triton restart mid-stream and a
promotion exercise the paths production depends on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
import tritonclient.http as triton_http
from labelloop import (
    AwsClients,
    EventPublisher,
    FrameRef,
    FramesExtracted,
    ModelPromoted,
    PredictionsReady,
    StackNames,
    build_worker,
    deterministic_id,
)
from labelloop.model_set import MODEL_SET, ModelSet, read_set_folder
from labelloop.provision import ProvisionedStack
from labelloop.rig import IN_CABIN_17
from labelloop.synth import render, sample_scene
from labelloop.triton_repository import write_model_set
from labelloop.visibility import iou
from labelloop.yolo import batch, decode
from labelloop_inference.entrypoint import SERVICE
from labelloop_inference.settings import InferenceSettings
from labelloop_inference.triton import TritonModels
from labelloop_tools.local.triton import TritonServer

from tests.crafted_models import write_crafted, yolo_output
from tests.helpers import dead_letter_reasons, drain, eventually, serve_set, uniform_set, worker_running

pytestmark = pytest.mark.integration
DATA = "test-data"
SHIPPED_MODELS = Path(__file__).parents[2] / "models" / "initial"
K = len(IN_CABIN_17)

# pose_main is sure of points 0-3 and 5-9, unsure of 10-16; point 4 sits exactly on T_main.
MAIN_CONF = [0.9, 0.9, 0.9, 0.61, 0.6, 0.9, 0.9, 0.9, 0.9, 0.9] + [0.3] * 7
# pose_visible sees 0-2, not 3 (exactly T_vis) nor 5-9; it "sees" 10-16 but main says they are not there.
VISIBLE_CONF = [0.9, 0.9, 0.9, 0.6, 0.9] + [0.2] * 5 + [0.9] * 7
EXPECTED = ["visible"] * 3 + ["occluded", "outside"] + ["occluded"] * 5 + ["outside"] * 7
# In input pixels (imgsz 160): a 320x240 frame is scaled by 0.5 and padded 20 px at the top.
PERSON_BOX = (80.0, 80.0, 60.0, 80.0)
POINTS_IN = [(40.0 + i, 50.0 + i) for i in range(K)]


def crafted_repository(repository: Path, head_confidence: float = 0.8, version: int = 1) -> None:
    main = [(PERSON_BOX, 0.9, [(x, y, c) for (x, y), c in zip(POINTS_IN, MAIN_CONF, strict=True)])]
    visible = [(PERSON_BOX, 0.85, [(x, y, c) for (x, y), c in zip(POINTS_IN, VISIBLE_CONF, strict=True)])]
    write_crafted(repository, "pose_main", yolo_output(main, K), version)
    write_crafted(repository, "pose_visible", yolo_output(visible, K), version)
    write_crafted(repository, "head", yolo_output([((90.0, 50.0, 20.0, 24.0), head_confidence, [])], 0), version)


@pytest.fixture(scope="module")
def crafted_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    work = tmp_path_factory.mktemp("triton-crafted")
    crafted_repository(work / "repo")
    with TritonServer(work / "repo", work / "workspace", explicit_model_control=True) as server:
        yield server


@pytest.fixture
def fresh_triton(tmp_path: Path) -> Iterator[TritonServer]:
    """A Triton of the test's own, free to be stopped, restarted or given new versions."""
    crafted_repository(tmp_path / "repo")
    server = TritonServer(tmp_path / "repo", tmp_path / "workspace", explicit_model_control=True).start()
    yield server
    server.stop()


CRAFTED = uniform_set(IN_CABIN_17, 160, 1)


def settings(
    aws: AwsClients, server: TritonServer, model_set: ModelSet = CRAFTED, **overrides: Any
) -> InferenceSettings:
    """Inference's settings for ``server``, with ``model_set`` declared serving as version 1."""
    serve_set(aws, 1, model_set)
    return InferenceSettings(
        **({"stack": "test", "poll_wait_s": 1, "triton_url": server.http_url, "version_refresh_s": 0} | overrides)
    )


def frames_extracted(aws: AwsClients, clip: str, frames: int, first_seed: int = 0) -> FramesExtracted:
    """Synthetic cabin JPEGs in the data bucket, announced the way ingest announces them."""
    refs = []
    for index in range(frames):
        image = render(sample_scene(first_seed + index)).image
        key = f"frames/{clip}/{index:06d}.jpg"
        aws.s3.put_object(Bucket=DATA, Key=key, Body=cv2.imencode(".jpg", image)[1].tobytes())
        refs.append(FrameRef(uri=f"s3://{DATA}/{key}", frame_no=index, timestamp_s=index * 1.0, width=320, height=240))
    return FramesExtracted(
        event_id=deterministic_id("test", clip),
        correlation_id=clip,
        clip_id=clip,
        source_uri=f"s3://test-uploads/clips/{clip}.mp4",
        frames=refs,
        batch_index=0,
        batch_count=1,
        total_frames=frames,
        manifest_uri=f"s3://{DATA}/frames/{clip}/manifest.jsonl",
    )


def predictions_out(aws: AwsClients, stack: ProvisionedStack) -> list[PredictionsReady]:
    return [e for e in drain(aws, stack.queue_urls["selector"]) if isinstance(e, PredictionsReady)]


def test_triton_serves_the_three_models_in_the_production_shape(crafted_triton: TritonServer) -> None:
    """Each model has version 1, a batched dynamic-size image input and one raw output."""
    client = triton_http.InferenceServerClient(crafted_triton.http_url)
    for name in MODEL_SET:
        metadata = client.get_model_metadata(name)
        assert metadata["versions"] == ["1"]
        assert metadata["inputs"] == [{"name": "images", "datatype": "UINT8", "shape": [-1, 3, -1, -1]}]
        assert [o["name"] for o in metadata["outputs"]] == ["output0"]
        config = client.get_model_config(name)
        assert config["max_batch_size"] == 8
        assert "dynamic_batching" in config


def test_visibility_rule_and_coordinates_on_crafted_confidences(
    aws: AwsClients, stack: ProvisionedStack, crafted_triton: TritonServer
) -> None:
    """Through the service: visibility follows T_main/T_vis strictly; boxes and points map back to frame pixels."""
    event = frames_extracted(aws, "crafted", 3)
    with worker_running(build_worker(SERVICE, settings(aws, crafted_triton), aws)) as worker:
        EventPublisher.for_stack(aws, StackNames("test")).publish(event)
        eventually(lambda: worker.counts["handled"] >= 1, timeout_s=60)
    [ready] = predictions_out(aws, stack)
    assert ready.model_versions == {"pose_main": "1", "pose_visible": "1", "head": "1"}
    assert ready.skeleton == list(IN_CABIN_17.skeleton)  # the serving set's rig, for whoever draws
    assert ready.track_attributes["seat"][0] == "driver"  # and what people say once per track
    assert [p.frame.frame_no for p in ready.predictions] == [0, 1, 2]
    for frame in ready.predictions:
        [person] = frame.persons
        assert [k.visibility for k in person.keypoints] == EXPECTED
        assert [k.name for k in person.keypoints] == list(IN_CABIN_17.keypoints)
        assert [k.main_confidence for k in person.keypoints] == pytest.approx(MAIN_CONF, abs=1e-4)
        assert [k.visible_confidence for k in person.keypoints] == pytest.approx(VISIBLE_CONF, abs=1e-4)
        assert (person.keypoints[0].x, person.keypoints[0].y) == pytest.approx((80.0, 60.0))
        assert (person.box.left, person.box.top, person.box.width, person.box.height) == pytest.approx(
            (100.0, 40.0, 120.0, 160.0)
        )
        [head] = frame.heads
        assert (head.left, head.top, head.width, head.height, head.confidence) == pytest.approx(
            (160.0, 36.0, 40.0, 48.0, 0.8)
        )


def test_shipped_models_find_the_people_of_unseen_cabins(tmp_path: Path) -> None:
    """A batch of 8 unseen synthetic cabins through Triton: the shipped models find the people and their heads."""
    write_model_set(tmp_path / "repo", SHIPPED_MODELS, read_set_folder(SHIPPED_MODELS))
    scenes = [render(sample_scene(seed)) for seed in range(5_000_000, 5_000_008)]
    with TritonServer(tmp_path / "repo", tmp_path / "workspace", explicit_model_control=True) as server:
        models = TritonModels(server.http_url)
        try:
            tensor, fits = batch([scene.image for scene in scenes], 160)
            [outputs] = models.infer([tensor], dict.fromkeys(MODEL_SET, "1"))
        finally:
            models.close()
    found = heads_found = people = 0
    for index, scene in enumerate(scenes):
        options = {"conf_threshold": 0.25, "iou_threshold": 0.6, "max_detections": 6}
        persons = decode(outputs["pose_main"][index], fits[index], (320, 240), keypoints=K, **options)
        heads = decode(outputs["head"][index], fits[index], (320, 240), keypoints=0, **options)
        for truth in scene.persons:
            people += 1
            found += any(iou(truth.box, p.box) > 0.5 for p in persons)
            heads_found += truth.head is not None and any(iou(truth.head, h.box) > 0.5 for h in heads)
    assert found >= 0.8 * people, f"found {found} of {people} people"
    assert heads_found >= 0.8 * people, f"found {heads_found} of {people} heads"


def test_a_triton_restart_mid_stream_loses_nothing(
    aws: AwsClients, stack: ProvisionedStack, fresh_triton: TritonServer, tmp_path: Path
) -> None:
    """Triton stops while messages are flowing and comes back: every batch is predicted once, none dead-lettered."""
    events = [frames_extracted(aws, f"clip-{n}", 2, first_seed=10 * n) for n in range(10)]
    publisher = EventPublisher.for_stack(aws, StackNames("test"))
    config = settings(aws, fresh_triton, concurrency=2, triton_retry_s=120.0)
    with worker_running(build_worker(SERVICE, config, aws)) as worker:
        for event in events[:3]:
            publisher.publish(event)
        eventually(lambda: worker.counts["handled"] >= 1, timeout_s=60)
        fresh_triton.stop()
        for event in events[3:]:
            publisher.publish(event)
        time.sleep(3)  # messages arrive and find no Triton
        restarted = TritonServer(
            fresh_triton.repository,
            tmp_path / "workspace-2",
            explicit_model_control=True,
            http_port=fresh_triton.http_port,
        ).start()
        try:
            eventually(lambda: worker.counts["handled"] >= len(events), timeout_s=180)
        finally:
            restarted.stop()
    assert worker.counts["dead_lettered"] == 0
    ready = predictions_out(aws, stack)
    assert sorted(r.clip_id for r in ready) == sorted(e.clip_id for e in events)
    assert sum(len(r.predictions) for r in ready) == 2 * len(events)


def test_a_promoted_version_is_served_without_a_restart(
    aws: AwsClients, stack: ProvisionedStack, fresh_triton: TritonServer
) -> None:
    """After version 2 is loaded and ModelPromoted arrives, predictions come from v2 and say so."""
    publisher = EventPublisher.for_stack(aws, StackNames("test"))
    with worker_running(build_worker(SERVICE, settings(aws, fresh_triton, version_refresh_s=3600), aws)) as worker:
        publisher.publish(frames_extracted(aws, "before", 1))
        eventually(lambda: worker.counts["handled"] >= 1, timeout_s=60)
        crafted_repository(fresh_triton.repository, head_confidence=0.7, version=2)
        client = triton_http.InferenceServerClient(fresh_triton.http_url)
        for name in MODEL_SET:
            client.load_model(name)
        serve_set(aws, 2, uniform_set(IN_CABIN_17, 160, 2))
        publisher.publish(
            ModelPromoted(
                correlation_id="training-2",
                model_name="head",
                model_version=2,
                registry_uri="s3://test-models/registry/head/2.json",
            )
        )
        eventually(lambda: worker.counts["handled"] >= 2, timeout_s=60)
        publisher.publish(frames_extracted(aws, "after", 1, first_seed=50))
        eventually(lambda: worker.counts["handled"] >= 3, timeout_s=60)
    by_clip = {r.clip_id: r for r in predictions_out(aws, stack)}
    assert by_clip["before"].model_versions["head"] == "1"
    assert by_clip["before"].predictions[0].heads[0].confidence == pytest.approx(0.8)
    assert by_clip["after"].model_versions == {"pose_main": "2", "pose_visible": "2", "head": "2"}
    assert by_clip["after"].predictions[0].heads[0].confidence == pytest.approx(0.7)


def test_missing_frame_goes_to_the_dlq_with_its_uri(
    aws: AwsClients, stack: ProvisionedStack, crafted_triton: TritonServer
) -> None:
    """A FramesExtracted naming a frame that no longer exists is dead-lettered with the frame's URI as reason."""
    event = frames_extracted(aws, "gone", 2)
    aws.s3.delete_object(Bucket=DATA, Key="frames/gone/000001.jpg")
    with worker_running(build_worker(SERVICE, settings(aws, crafted_triton), aws)) as worker:
        EventPublisher.for_stack(aws, StackNames("test")).publish(event)
        eventually(lambda: worker.counts["dead_lettered"] >= 1, timeout_s=60)
    [reason] = dead_letter_reasons(aws, stack, "inference")
    assert "s3://test-data/frames/gone/000001.jpg" in reason
    assert predictions_out(aws, stack) == []
