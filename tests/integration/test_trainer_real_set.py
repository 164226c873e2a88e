"""A training round on the real COCO-17 set (yolo11n-pose, pose_main only), on a real moto server
and the real Triton: measured on a holdout reserved from people's labels (the synthetic holdout
cannot draw COCO's rig); ``pose_visible`` starts as a copy of ``pose_main`` and a head detector
is trained once enough head boxes were corrected, each serving only where it beats its rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import pytest
import tritonclient.http as triton_http
import ultralytics
from labelloop import (
    AwsClients,
    EventPublisher,
    FrameRef,
    LabelsCompleted,
    ModelPromoted,
    StackNames,
    build_worker,
    utc_now,
)
from labelloop.manifest import augmented_manifest_line
from labelloop.model_registry import Registry
from labelloop.model_set import ModelSet, read_set_folder
from labelloop.provision import ProvisionedStack
from labelloop.rig import COCO17
from labelloop.visibility import Thresholds, decode_frame
from labelloop.yolo import batch
from labelloop_tools.local.triton import TritonServer
from labelloop_trainer.collect import frame_name, reserved_for_holdout
from labelloop_trainer.entrypoint import SERVICE
from labelloop_trainer.served import metric_name
from labelloop_trainer.settings import TrainerSettings
from labelloop_trainer.training import parent_architecture

from tests.helpers import REPO, drain, eventually, real_model_set, triton_serving, worker_running

pytestmark = pytest.mark.integration
ASSETS = Path(ultralytics.__file__).parent / "assets"
SHARE = 0.25


@pytest.fixture(scope="module")
def real_set() -> Path:
    return real_model_set()


@pytest.fixture
def triton(tmp_path: Path, real_set: Path) -> Iterator[TritonServer]:
    with triton_serving(real_set, tmp_path) as server:
        yield server


def views(image: np.ndarray) -> list[np.ndarray]:  # type: ignore[type-arg]
    """Twelve different pictures of one photo's people: crops, a mirror image, rescales, exposure."""
    height, width = image.shape[:2]
    crops = [image, image[:, : width * 3 // 4], image[:, width // 4 :], image[height // 8 :, :]]
    return [
        variant
        for crop in crops
        for variant in (crop, cv2.flip(crop, 1), cv2.convertScaleAbs(cv2.resize(crop, None, fx=0.8, fy=0.8), alpha=0.7))
    ]


def people_labels(aws: AwsClients, real_set: Path) -> list[LabelsCompleted]:
    """24 real pictures in S3, labelled (as people would, here by the real set itself) in dataset/human/."""
    model_set = read_set_folder(real_set)
    session = onnxruntime.InferenceSession(str(real_set / "pose_main.onnx"), providers=["CPUExecutionProvider"])
    pictures = [view for name in ("bus.jpg", "zidane.jpg") for view in views(cv2.imread(str(ASSETS / name)))]
    events = []
    for n, picture in enumerate(pictures):
        key = f"frames/real/{n:06d}.jpg"
        aws.s3.put_object(Bucket="test-data", Key=key, Body=cv2.imencode(".jpg", picture)[1].tobytes())
        height, width = picture.shape[:2]
        frame = FrameRef(uri=f"s3://test-data/{key}", frame_no=n, timestamp_s=float(n), width=width, height=height)
        tensor, fits = batch([picture], model_set.imgsz)
        outputs = {"pose_main": session.run(None, {"images": tensor})[0]}
        predictions = decode_frame(outputs, 0, fits[0], frame, rig=model_set.rig, thresholds=Thresholds())
        line = augmented_manifest_line(predictions, human_annotated=True, job_name="people", created=utc_now())
        for modality in ("head", "keypoints"):
            label = {
                "source-ref": frame.uri,
                modality: line[modality],
                f"{modality}-metadata": line[f"{modality}-metadata"],
            }
            aws.s3.put_object(Bucket="test-data", Key=f"dataset/human/real/{n:06d}-{modality}-l1.json",
                              Body=json.dumps(label).encode())  # fmt: skip
        output = f"s3://test-data/dataset/human/real/{n:06d}-keypoints-l1.json"
        events.append(LabelsCompleted(correlation_id="real", clip_id="real", frame=frame, modality="keypoints",
                                      level=1, job_name="test-keypoints-l1-1", dataset_object_id=str(n),
                                      output_uri=output))  # fmt: skip
    return events


def settings_for(triton: TritonServer, real_set: Path, tmp_path: Path) -> TrainerSettings:
    return TrainerSettings(
        stack="test", poll_wait_s=1, concurrency=2, threshold=4, settle_s=1, check_every_s=0.5, epochs=1,
        new_model_epochs=1,
        imgsz=320,  # a quarter of the real set's pixels: this test is about the round, not about accuracy
        holdout_share=SHARE, min_holdout_frames=3, head_min_labels=4, promote_tolerance=1.0,
        initial_models=real_set, model_repository=triton.repository, triton_url=triton.http_url, work_dir=tmp_path,
    )  # fmt: skip


def test_a_round_on_the_real_set_measures_on_peoples_labels_and_keeps_only_models_that_beat_their_rules(
    aws: AwsClients, stack: ProvisionedStack, triton: TritonServer, real_set: Path, tmp_path: Path
) -> None:
    events = people_labels(aws, real_set)
    reserved = sum(reserved_for_holdout(frame_name(event.frame.uri), SHARE) for event in events)
    assert 3 <= reserved < len(events)  # the test's own premise: a holdout, and frames to train on
    with worker_running(build_worker(SERVICE, settings_for(triton, real_set, tmp_path), aws)) as worker:
        EventPublisher.for_stack(aws, StackNames("test")).publish_all(events)
        registry = Registry(aws.dynamodb, "test-models")
        eventually(lambda: len(registry.versions()) == 2 and registry.training_owner() is None, timeout_s=420,
                   interval_s=1.0)  # fmt: skip
    assert worker.counts["dead_lettered"] == 0
    first, second = registry.versions()
    assert (second.version, second.status, second.parent) == (2, "promoted", 1)
    metrics = second.metrics
    # pose_visible (from pose_main's weights) and a head detector (4 labels suffice here) were trained and
    # measured against their rules on people's holdout; each serves only where it beat its rule.
    candidate = ModelSet.model_validate(second.model_set)
    beats_rule = {
        "pose_visible": metrics[metric_name("visibility_accuracy", "two-model")]
        > metrics[metric_name("visibility_accuracy", "main-confidence")],
        "head": metrics[metric_name("head_map50", "detector")] > metrics[metric_name("head_map50", "face-keypoints")],
    }
    assert {slot for slot, wins in beats_rule.items() if wins} == set(candidate.models) - {"pose_main"}
    assert metrics["visibility_accuracy"] == max(
        metrics[metric_name("visibility_accuracy", rule)] for rule in ("two-model", "main-confidence")
    )
    assert candidate.rig == COCO17
    assert candidate.imgsz == 640
    assert all(slot.version == 2 and slot.source == "trained" for slot in candidate.models.values())
    # The serving set was measured on the same holdout, under its own rules (no pose_visible, no head model).
    assert set(first.metrics) >= {"pose_map50", "visibility_accuracy", "head_map50"}
    assert first.metrics["visibility_accuracy"] == first.metrics[metric_name("visibility_accuracy", "main-confidence")]
    assert first.metrics["pose_map50"] > 0.3  # yolo11n-pose against labels it made itself, at a quarter of its size
    assert registry.serving() == 2
    client = triton_http.InferenceServerClient(triton.http_url)
    for model in candidate.models:
        assert "2" in client.get_model_metadata(model)["versions"]
    promoted = {e.model_name for e in drain(aws, stack.queue_urls["inference"]) if isinstance(e, ModelPromoted)}
    assert promoted == set(candidate.models)


def test_without_enough_peoples_labels_to_measure_on_the_round_waits(
    aws: AwsClients, stack: ProvisionedStack, triton: TritonServer, real_set: Path, tmp_path: Path
) -> None:
    """A holdout of fewer frames than asked: no training, no new version, the labels counted off (they stay in
    dataset/ for the next round), nothing dead-lettered."""
    events = people_labels(aws, real_set)[:8]
    settings = settings_for(triton, real_set, tmp_path).model_copy(update={"min_holdout_frames": 50})
    with worker_running(build_worker(SERVICE, settings, aws)) as worker:
        EventPublisher.for_stack(aws, StackNames("test")).publish_all(events)
        registry = Registry(aws.dynamodb, "test-models")
        eventually(lambda: worker.counts["handled"] >= len(events) and registry.labels() == 0, timeout_s=120)
    assert [v.version for v in registry.versions()] == [1]
    assert registry.serving() == 1
    assert worker.counts["dead_lettered"] == 0


def test_a_head_detector_starts_from_the_pose_models_backbone(real_set: Path, tmp_path: Path) -> None:
    """The real set's yolo11n-pose becomes a yolo11n detector definition for the head slot, and stays
    itself for the pose slots; a detector cannot parent a pose model."""
    import yaml

    head_file, head_is_new = parent_architecture("head", real_set / "pose_main.pt", tmp_path)
    pose_file, pose_is_new = parent_architecture("pose_visible", real_set / "pose_main.pt", tmp_path)
    assert (head_is_new, pose_is_new) == (True, False)  # a new task trains on the usual schedule
    head, pose = yaml.safe_load(head_file.read_text()), yaml.safe_load(pose_file.read_text())
    assert head["head"][-1][2:] == ["Detect", ["nc"]]
    assert "kpt_shape" not in head
    assert pose["head"][-1][2] == "Pose"
    assert pose["backbone"] == head["backbone"]
    shipped = REPO / "models" / "initial"
    with pytest.raises(ValueError, match="Detect"):
        parent_architecture("pose_main", shipped / "head.pt", tmp_path)
