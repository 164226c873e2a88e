"""The Ground Truth backend's task types: UI templates, the pre-annotation and consolidation Lambdas, and
the label categories written from the serving rig; the Lambdas read real S3 (moto over HTTP) as
Ground Truth hands them their payload."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from labelloop import AwsClients
from labelloop.groundtruth import JobSpec, input_line, label_of
from labelloop.provision import ProvisionedStack
from labelloop.rig import COCO17, IN_CABIN_17, Rig
from labelloop_gt_bridge import ground_truth_lambda
from labelloop_gt_bridge.backends import JobDefinition
from labelloop_gt_bridge.ground_truth import OCCLUDED_SUFFIX, GroundTruthBackend, config_uris, ui_template
from labelloop_gt_bridge.handlers import prefill
from labelloop_gt_bridge.settings import GtBridgeSettings
from labelloop_tools.local.stack import LOCAL_AWS_ENV

from tests.predictions import RIG, frame

pytestmark = pytest.mark.integration
SPECS = {"head": JobSpec("head", 1), "keypoints": JobSpec("keypoints", 1), "adjustment": JobSpec("keypoints", 2)}
ELEMENTS = {"boundingBox": "crowd-bounding-box", "annotatedResult": "crowd-keypoint"}


def _line(modality: str, *, level: int = 1) -> dict[str, Any]:
    # points (main, visible): visible, occluded, outside, visible, visible
    predictions = frame(3, points=[(0.95, 0.95), (0.95, 0.3), (0.2, 0.2), (0.9, 0.9), (0.9, 0.9)])
    return input_line(
        source_ref=predictions.frame.uri,
        object_key=f"obj#{modality}",
        generation=0,
        frame={"clip_id": "c", "keypoint_names": list(RIG), **predictions.frame.model_dump(mode="json")},
        prefill=prefill(predictions, 0.0) if level == 1 else None,
        level1_labels=label_of(human(modality), modality) if level == 2 else None,
    )


def human(modality: str) -> dict[str, Any]:
    if modality == "head":
        return {"head": {"annotations": [{"class_id": 0, "left": 10, "top": 20, "width": 30, "height": 40}]}}
    points = [{"label": "nose", "x": 5.0, "y": 6.0, "visibility": "occluded", "person": 0}]
    return {"keypoints": {"crowdKeypoint": {"keypoints": points}}}


@pytest.mark.parametrize("kind", list(SPECS))
def test_each_task_types_template_reads_only_what_its_pre_lambda_gives(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The template's ``task.input.*`` fields are all in the pre-annotation Lambda's ``taskInput``, and its
    form answers under the element names the consolidation Lambda reads."""
    monkeypatch.setenv("TASK_TYPE", kind)
    template = ui_template(SPECS[kind])
    modalities = ("head", "keypoints") if kind == "adjustment" else (kind,)
    for modality in modalities:
        given = ground_truth_lambda.pre({"dataObject": _line(modality, level=2 if kind == "adjustment" else 1)}, None)
        assert given["isHumanAnnotationRequired"] == "true"
        assert set(re.findall(r"task\.input\.(\w+)", template)) <= set(given["taskInput"]), template
    names = set(re.findall(r'name="(\w+)"', template))
    assert names == ({"boundingBox", "annotatedResult"} if kind == "adjustment" else {
        "head": {"boundingBox"}, "keypoints": {"annotatedResult"}}[kind])  # fmt: skip
    for name in names:
        assert f'<{ELEMENTS[name]}\n    name="{name}"' in template


def test_the_pre_lambda_starts_people_from_the_model_at_level_one_and_from_level_one_at_level_two(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TASK_TYPE", "keypoints")
    task = ground_truth_lambda.pre({"dataObject": _line("keypoints")}, None)["taskInput"]
    assert [p["label"] for p in task["initialValue"]] == [
        "nose",
        "left_eye" + OCCLUDED_SUFFIX,
        "left_shoulder",
        "right_shoulder",
    ]  # fmt: skip  (the outside one: absent)
    assert task["keypointLabels"] == [*RIG, *(name + OCCLUDED_SUFFIX for name in RIG)]
    monkeypatch.setenv("TASK_TYPE", "head")
    task = ground_truth_lambda.pre({"dataObject": _line("head")}, None)["taskInput"]
    assert task["initialValue"] == [{"label": "head", "left": 300.0, "top": 80.0, "width": 60.0, "height": 70.0}]
    monkeypatch.setenv("TASK_TYPE", "adjustment")
    task = ground_truth_lambda.pre({"dataObject": _line("keypoints", level=2)}, None)["taskInput"]
    assert (task["modality"], task["initialValue"]) == ("keypoints", [{"label": "nose (occluded)", "x": 5.0, "y": 6.0}])
    task = ground_truth_lambda.pre({"dataObject": _line("head", level=2)}, None)["taskInput"]
    assert (task["modality"], task["initialValue"][0]["left"]) == ("head", 10)


def test_the_consolidation_lambda_turns_a_workers_answers_into_labelloops_labels(
    aws: AwsClients, stack: ProvisionedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ground Truth's post-annotation request points at a payload in S3 (one worker per object here): the
    Lambda answers each object with our label shapes under the job's label attribute. Two persons' points
    (a name placed again starts the next person), "(occluded)" names, a point never placed (outside)."""
    for name, value in {**LOCAL_AWS_ENV, "AWS_ENDPOINT_URL": str(aws.endpoint_url)}.items():
        monkeypatch.setenv(name, value)
    size = {"width": 640, "height": 480}
    keypoints = {"annotatedResult": {"inputImageProperties": size, "keypoints": [
        {"label": "nose", "x": 10, "y": 11}, {"label": "left_eye (occluded)", "x": 12, "y": 13},
        {"label": "nose", "x": 50, "y": 51}, {"label": "right_eye", "x": 52, "y": 53}]}}  # fmt: skip
    heads = {"boundingBox": {"inputImageProperties": size, "boundingBoxes": [
        {"label": "head", "left": 300.4, "top": 80.6, "width": 60, "height": 70}]}}  # fmt: skip
    for attribute, answer, check in (("keypoints", keypoints, _check_points), ("head", heads, _check_heads)):
        payload = [{"datasetObjectId": "7", "dataObject": {"s3Uri": "s3://test-data/frames/c/000003.jpg"},
                    "annotations": [{"workerId": "private.us-east-1.w1",
                                     "annotationData": {"content": json.dumps(answer)}}]}]  # fmt: skip
        aws.s3.put_object(Bucket="test-data", Key=f"gt/payload-{attribute}.json", Body=json.dumps(payload).encode())
        [answered] = ground_truth_lambda.consolidate({
            "version": "2018-10-16", "labelingJobArn": "arn:aws:sagemaker:us-east-1:1:labeling-job/j",
            "labelAttributeName": attribute, "roleArn": "arn:aws:iam::1:role/r",
            "payload": {"s3Uri": f"s3://test-data/gt/payload-{attribute}.json"}, "outputConfig": "s3://test-data/gt",
        }, None)  # fmt: skip
        assert answered["datasetObjectId"] == "7"
        check(answered["consolidatedAnnotation"]["content"][attribute])


def _check_points(content: dict[str, Any]) -> None:
    assert content["crowdKeypoint"]["inputImageProperties"] == {"width": 640, "height": 480}
    assert [(p["person"], p["label"], p["visibility"]) for p in content["crowdKeypoint"]["keypoints"]] == [
        (0, "nose", "visible"), (0, "left_eye", "occluded"), (1, "nose", "visible"), (1, "right_eye", "visible")
    ]  # fmt: skip


def _check_heads(content: dict[str, Any]) -> None:
    assert content == {"image_size": [{"width": 640, "height": 480, "depth": 3}],
                       "annotations": [{"class_id": 0, "left": 300, "top": 81, "width": 60, "height": 70}]}  # fmt: skip


@pytest.mark.parametrize("rig", [COCO17, IN_CABIN_17], ids=lambda rig: rig.name)
def test_a_job_starts_with_its_template_and_label_categories_from_the_serving_rig(
    aws: AwsClients, stack: ProvisionedStack, rig: Rig
) -> None:
    sagemaker = boto3.client("sagemaker", region_name="us-east-1", **_keys())
    settings = GtBridgeSettings(
        backend="ground-truth",
        role_arn="arn:aws:iam::123456789012:role/test-ground-truth",
        workteam_arn="arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/cabin",
        **{f"{t}_{s}_lambda_arn": f"arn:aws:lambda:us-east-1:123456789012:function:gt-{t}-{s}"
           for t in SPECS for s in ("pre", "consolidation")},
    )  # fmt: skip
    backend = GroundTruthBackend(sagemaker, aws.s3, settings, lambda: rig)
    for spec in (JobSpec("keypoints", 1), JobSpec("head", 1)):
        job = JobDefinition(spec.job_name("test", 1), spec, "arn:aws:sns:us-east-1:1:in", "arn:aws:sns:us-east-1:1:out",
                            "s3://test-data/labeling")  # fmt: skip
        with Stubber(sagemaker) as stub:
            stub.add_response("create_labeling_job", {"LabelingJobArn": "arn:x"}, backend.request(job))
            backend.create_job(job, 0.0)
        ui_uri, labels_uri = config_uris(job)
        stored_ui = aws.s3.get_object(Bucket="test-data", Key=ui_uri.removeprefix("s3://test-data/"))["Body"].read()
        assert stored_ui.decode() == ui_template(spec)
        categories = json.loads(
            aws.s3.get_object(Bucket="test-data", Key=labels_uri.removeprefix("s3://test-data/"))["Body"].read()
        )
        expected = (
            ["head"] if spec.modality == "head" else [*rig.keypoints, *(n + OCCLUDED_SUFFIX for n in rig.keypoints)]
        )
        assert categories == {"document-version": "2018-11-28", "labels": [{"label": label} for label in expected]}


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "x", "aws_secret_access_key": "x"}
