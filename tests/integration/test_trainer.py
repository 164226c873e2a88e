"""The trainer on a real moto server and the real Triton: labels past the threshold → one
training → a registered model set → served by Triton as a new version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import tritonclient.http as triton_http
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
from labelloop.dataset import read_snapshot
from labelloop.manifest import augmented_manifest_line
from labelloop.model_registry import Registry
from labelloop.model_set import MODEL_SET
from labelloop.provision import ProvisionedStack
from labelloop.synth import render, sample_scene, truth_predictions
from labelloop_tools.local.triton import TritonServer
from labelloop_trainer.entrypoint import SERVICE
from labelloop_trainer.settings import TrainerSettings

from tests.helpers import drain, eventually, labelloop_cli, triton_serving, worker_running

pytestmark = pytest.mark.integration
SHIPPED_MODELS = Path(__file__).parents[2] / "models" / "initial"


@pytest.fixture
def triton(tmp_path: Path) -> Iterator[TritonServer]:
    with triton_serving(SHIPPED_MODELS, tmp_path) as server:
        yield server


def human_labels(aws: AwsClients, frames: int) -> list[LabelsCompleted]:
    """Frames in S3 with people's labels in dataset/human/, and the events gt-bridge would publish."""
    events = []
    for n in range(frames):
        rendered = render(sample_scene(3_000_000 + n))
        key = f"frames/train/{n:06d}.jpg"
        aws.s3.put_object(Bucket="test-data", Key=key, Body=cv2.imencode(".jpg", rendered.image)[1].tobytes())
        frame = FrameRef(uri=f"s3://test-data/{key}", frame_no=n, timestamp_s=float(n), width=320, height=240)
        line = augmented_manifest_line(
            truth_predictions(rendered, frame), human_annotated=True, job_name="people", created=utc_now()
        )
        for modality in ("head", "keypoints"):
            label = {
                "source-ref": frame.uri,
                modality: line[modality],
                f"{modality}-metadata": line[f"{modality}-metadata"],
            }
            aws.s3.put_object(
                Bucket="test-data",
                Key=f"dataset/human/train/{n:06d}-{modality}-l1.json",
                Body=json.dumps(label).encode(),
            )
        output = f"s3://test-data/dataset/human/train/{n:06d}-keypoints-l1.json"
        events.append(LabelsCompleted(correlation_id="train", clip_id="train", frame=frame, modality="keypoints",
                                      level=1, job_name="test-keypoints-l1-1", dataset_object_id=str(n),
                                      output_uri=output))  # fmt: skip
    return events


def test_labels_past_the_threshold_train_once_and_triton_serves_the_new_version(
    aws: AwsClients, stack: ProvisionedStack, triton: TritonServer, tmp_path: Path
) -> None:
    """Six labels, threshold four: exactly one training; version 2 is registered with its metrics
    and data hash, written to the repository, loaded by Triton, and announced per model."""
    settings = TrainerSettings(
        stack="test", poll_wait_s=1, concurrency=2, threshold=4, settle_s=3, check_every_s=0.5, epochs=1,
        holdout_size=16,
        promote_tolerance=1.0,  # this test is about the path to serving, not about accuracy
        initial_models=SHIPPED_MODELS, model_repository=triton.repository, triton_url=triton.http_url,
        work_dir=tmp_path,
    )  # fmt: skip
    events = human_labels(aws, 6)
    with worker_running(build_worker(SERVICE, settings, aws)) as worker:
        EventPublisher.for_stack(aws, StackNames("test")).publish_all(events)
        eventually(lambda: worker.counts["handled"] + worker.counts["dead_lettered"] >= len(events), timeout_s=60)
        registry = Registry(aws.dynamodb, "test-models")
        # The labels settle, then one round trains on them and gives the lock back.
        eventually(lambda: len(registry.versions()) == 2 and registry.training_owner() is None, timeout_s=280,
                   interval_s=1.0)  # fmt: skip
    assert worker.counts["dead_lettered"] == 0
    versions = registry.versions()
    assert [(v.version, v.status, v.parent) for v in versions] == [(1, "promoted", None), (2, "promoted", 1)]
    assert set(versions[1].metrics) >= {"person_map50", "pose_map50", "head_map50", "visibility_accuracy"}
    assert all(0.0 <= value <= 1.0 for value in versions[1].metrics.values())
    assert versions[0].metrics["pose_map50"] > 0.5  # the shipped models, on the holdout
    assert len(versions[1].data_hash) == 16
    assert registry.serving() == 2
    trained_on = read_snapshot(aws.s3, "test-data", versions[1].data_hash)  # what `labelloop export --version 2` reads
    assert trained_on is not None
    assert len(trained_on) == versions[1].labels  # one labelled frame each (the synthetic holdout holds none of them)
    # One round once the burst settled, not one per label past the threshold. On a loaded machine a label
    # may come later than SETTLE_S after the others: it then waits, counted, for the next round.
    assert versions[1].labels >= 4
    assert versions[1].labels + registry.labels() == 6
    client = triton_http.InferenceServerClient(triton.http_url)
    for model in MODEL_SET:
        assert client.get_model_metadata(model)["versions"] == ["1", "2"]
        aws.s3.head_object(Bucket="test-models", Key=f"registry/2/{model}.onnx")
    report = labelloop_cli(aws, "models", "--json")
    listed = json.loads(report.stdout)
    assert listed["serving"] == 2
    assert [v["version"] for v in listed["versions"]] == [1, 2]
    promoted = [e for e in drain(aws, stack.queue_urls["inference"]) if isinstance(e, ModelPromoted)]
    assert sorted((e.model_name, e.model_version, e.previous_version) for e in promoted) == [
        ("head", 2, 1), ("pose_main", 2, 1), ("pose_visible", 2, 1)
    ]  # fmt: skip
