"""The Ground Truth protocol helpers and the Ground Truth adapter's requests, against botocore's model."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from labelloop import LabelingOutput, parse_body
from labelloop.groundtruth import (
    DEDUP_ATTRIBUTE,
    DEDUP_KEY_PATTERN,
    EXPIRED_FAILURE,
    JobSpec,
    dedup_id,
    expired,
    expired_output_line,
    input_line,
    label_of,
    line_dedup_id,
)
from labelloop.manifest import augmented_manifest_line
from labelloop.rig import COCO17
from labelloop_gt_bridge.backends import JobDefinition
from labelloop_gt_bridge.ground_truth import GroundTruthBackend
from labelloop_gt_bridge.settings import TASK_TYPES, GtBridgeSettings
from pydantic import ValidationError

from tests.predictions import frame

ARN = "arn:aws:sns:us-east-1:123456789012:"


def test_dedup_ids_are_stable_per_generation_and_new_after_expiry() -> None:
    """Resends reuse the id; the next generation gets another; the key name fits GT's pattern."""
    assert dedup_id("obj#a", 0) == dedup_id("obj#a", 0)
    assert dedup_id("obj#a", 1) != dedup_id("obj#a", 0)
    assert DEDUP_KEY_PATTERN.match(DEDUP_ATTRIBUTE)


def test_input_line_names_its_dedup_attribute_and_carries_level_one_labels() -> None:
    """The line says which key holds the dedup id; a level-2 line carries <LAN1> and its metadata."""
    labels = {"keypoints": {"crowdKeypoint": {}}, "keypoints-metadata": {"human-annotated": "yes"}}
    line = input_line(source_ref="s3://b/f.jpg", object_key="obj#f", generation=2, frame={}, level1_labels=labels)
    assert line["dataset-objectid-attribute-name"] == DEDUP_ATTRIBUTE
    assert line_dedup_id(line) == dedup_id("obj#f", 2)
    assert label_of(line, "keypoints") == labels


def test_expired_output_lines_are_recognised() -> None:
    """GT's expiry line (failure-reason in <LAN>-metadata) is an expiry; a labeled line is not."""
    line = input_line(source_ref="s3://b/f.jpg", object_key="obj#f", generation=0, frame={})
    gone = expired_output_line(line, "head", "job-1", "2026-01-01T00:00:00")
    assert gone["head-metadata"]["failure-reason"] == EXPIRED_FAILURE
    assert gone["head-metadata"]["human-annotated"] == "no"  # nobody answered it
    assert expired(gone, "head")
    assert not expired({**line, "head": {}, "head-metadata": {"human-annotated": "yes"}}, "head")


def test_output_lines_parse_as_labeling_output_with_a_stable_id() -> None:
    """A raw output line on the gt-bridge queue becomes a LabelingOutput; the same line, the same id."""
    line = {
        **input_line(source_ref="s3://b/f.jpg", object_key="obj#f", generation=0, frame={}),
        "head": {},
        "head-metadata": {},
    }
    [parsed] = parse_body(json.dumps(line))
    assert isinstance(parsed, LabelingOutput)
    assert parsed.event_id == LabelingOutput(line=line).event_id
    assert parsed.correlation_id == "obj#f"


def test_job_names_follow_ground_truths_rule() -> None:
    """Names are stack-spec-incarnation; a stack name that breaks the rule is refused."""
    assert JobSpec("keypoints", 2).job_name("labelloop", 3) == "labelloop-keypoints-l2-3"
    assert JobSpec("keypoints", 2).label_attribute == "keypoints-adjusted"
    with pytest.raises(ValueError, match="naming rule"):
        JobSpec("head", 1).job_name("x" * 70, 1)


def _settings() -> GtBridgeSettings:
    return GtBridgeSettings(
        backend="ground-truth",
        role_arn="arn:aws:iam::123456789012:role/labelloop-ground-truth",
        workteam_arn="arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/cabin",
        **{
            f"{task}_{step}_lambda_arn": f"arn:aws:lambda:us-east-1:123456789012:function:labelloop-gt-{task}-{step}"
            for task in TASK_TYPES
            for step in ("pre", "consolidation")
        },
    )


@pytest.mark.parametrize(
    "spec", [JobSpec("head", 1), JobSpec("keypoints", 1), JobSpec("keypoints", 2), JobSpec("head", 2)]
)
def test_create_labeling_job_requests_validate_against_botocores_model(spec: JobSpec) -> None:
    """Every CreateLabelingJob we would send passes botocore's parameter validation (Stubber), and
    status comes from DescribeLabelingJob."""
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    backend = GroundTruthBackend(client, s3, _settings(), lambda: COCO17)
    job = JobDefinition(spec.job_name("labelloop", 1), spec, ARN + "in", ARN + "out", "s3://labelloop-data/labeling")
    request = backend.request(job)
    with Stubber(client) as stub, Stubber(s3) as s3_stub:
        for _ in ("ui template", "label categories"):  # written before the job (their content: integration tests)
            s3_stub.add_response("put_object", {}, None)
        stub.add_response("create_labeling_job", {"LabelingJobArn": "arn:aws:sagemaker:::labeling-job/x"}, request)
        stub.add_response(
            "describe_labeling_job",
            {
                "LabelingJobStatus": "InProgress",
                "LabelCounters": {},
                "CreationTime": "2026-11-23T00:00:00Z",
                "LastModifiedTime": "2026-11-23T00:00:00Z",
                "JobReferenceCode": "x",
                "LabelingJobName": job.name,
                "LabelingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/x",
                "LabelAttributeName": spec.label_attribute,
                "InputConfig": request["InputConfig"],
                "OutputConfig": request["OutputConfig"],
                "RoleArn": request["RoleArn"],
                "HumanTaskConfig": request["HumanTaskConfig"],
            },
            {"LabelingJobName": job.name},
        )
        backend.create_job(job, 0.0)
        assert backend.status(job.name) == "InProgress"
        stub.assert_no_pending_responses()
    assert request["LabelAttributeName"] == spec.label_attribute
    kind = "adjustment" if spec.level == 2 else spec.modality  # each task type its own Lambda pair and template
    assert request["HumanTaskConfig"]["PreHumanTaskLambdaArn"].endswith(f"labelloop-gt-{kind}-pre")
    consolidation = request["HumanTaskConfig"]["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"]
    assert consolidation.endswith(f"labelloop-gt-{kind}-consolidation")
    assert (
        request["LabelCategoryConfigS3Uri"] == f"s3://labelloop-data/labeling/{job.name}/config/label-categories.json"
    )
    assert request["HumanTaskConfig"]["TaskAvailabilityLifetimeInSeconds"] == 10 * 24 * 3600


def test_label_metadata_keys_are_named_as_ground_truth_names_them() -> None:
    """Every <LAN>-metadata key we write is hyphenated as Ground Truth writes it (job-name, creation-date), the
    keypoints' as the heads' (they had job_name and creation_date)."""
    line = augmented_manifest_line(frame(1), human_annotated=True, job_name="j", created=datetime.now(UTC))
    for attribute in ("head-metadata", "keypoints-metadata"):
        keys = set(line[attribute])
        assert {"job-name", "creation-date", "human-annotated", "type"} <= keys, attribute
        assert not any("_" in key for key in keys), attribute


def test_the_ground_truth_backend_refuses_to_start_without_its_settings() -> None:
    """Empty or misshapen Ground Truth settings fail at start-up (the service exits 78), each named with the
    pattern botocore's sagemaker model requires; the portal backend needs none of them."""
    with pytest.raises(ValidationError) as raised:
        GtBridgeSettings(backend="ground-truth", role_arn="labelloop-role")
    message = str(raised.value)
    for name in ("ROLE_ARN", "WORKTEAM_ARN", "HEAD_PRE_LAMBDA_ARN", "ADJUSTMENT_CONSOLIDATION_LAMBDA_ARN"):
        assert name in message
    assert "'labelloop-role'" in message
    assert _settings().backend == "ground-truth"  # complete and well-formed: accepted
    assert GtBridgeSettings().role_arn == ""  # the portal backend
