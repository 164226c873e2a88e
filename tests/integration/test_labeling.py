"""gt-bridge and the self-hosted portal on a real moto server, with a clock the test moves.

gt-bridge runs as a real worker on its queue; the portal's loop is ticked by the test, so days of
a streaming job (resends before SQS's 14-day retention, task expiry, idle jobs) pass in seconds.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from labelloop import (
    AwsClients,
    EventPublisher,
    LabelsCompleted,
    StackNames,
    utc_now,
)
from labelloop.dataset import effective_lines
from labelloop.groundtruth import DEDUP_ATTRIBUTE, line_dedup_id
from labelloop.manifest import augmented_manifest_line
from labelloop.portal_api import get_job, save_job
from labelloop.provision import ProvisionedStack
from labelloop.queue_policy import allows_topic
from labelloop.truth_layout import frame_truth_location
from labelloop_gt_bridge import handlers
from labelloop_gt_bridge.backends import PortalBackend
from labelloop_portal.annotator import SimulatedAnnotator
from labelloop_portal.entrypoint import serve_web
from labelloop_portal.portal import Portal, TaskNotOpenError
from labelloop_portal.tasks import TaskStore
from labelloop_tools.local import free_port

from tests.helpers import dead_letter_reasons, eventually, labelloop_cli
from tests.labeling import Loop, human_label, labeling_loop, review
from tests.predictions import frame

pytestmark = pytest.mark.integration
DAY = 24 * 3600.0


def test_retention_resends_keep_the_dedup_id_and_the_portal_shows_the_object_once(
    aws: AwsClients, stack: ProvisionedStack
) -> None:
    """An object unlabeled for 13 days is resent twice (days 5 and 10) with the SAME dedup id; the
    portal drops both copies, holds one task, and the late label still completes the frame once."""
    with labeling_loop(aws, stack, modalities=("head",), task_lifetime_s=int(30 * DAY)) as loop:
        EventPublisher.for_stack(aws, StackNames("test")).publish(review(1))
        loop.settle(1)
        loop.portal.tick()
        job = loop.job("head-l1")
        [task] = loop.portal.open_tasks(job.name)
        assert task.line["labelloop-frame"]["track_attributes"] == {"glasses": ["no", "yes"]}  # for the page
        for _ in range(2):
            loop.clock.advance(5 * DAY + 60)
            assert handlers.sweep(loop.deps).resent == 1
            loop.portal.tick()
        assert loop.portal.counts == {"received": 3, "duplicates": 2, "answered": 0, "expired": 0, "invalid": 0}
        assert [t.object_id for t in loop.portal.open_tasks(job.name)] == [task.object_id]
        loop.clock.advance(3 * DAY)
        loop.portal.submit(job, task.object_id, human_label("head"), worker="alice")
        loop.settle(2)
    [item] = loop.deps.state.objects()
    assert (item.status, item.generation, item.resends, item.expiries) == ("completed", 0, 2, 0)
    [label] = loop.labels()
    assert (label.modality, label.level, label.frame.frame_no) == ("head", 1, 1)
    auto = augmented_manifest_line(review(1).predictions, human_annotated=False, job_name="auto", created=utc_now())
    aws.s3.put_object(
        Bucket="test-data", Key="dataset/auto/clip-1/000001-000001-x.jsonl", Body=json.dumps(auto).encode()
    )
    [effective] = effective_lines(aws.s3, "test-data").values()
    assert effective["head"]["annotations"][0]["left"] == 301  # the human label replaced the model's
    assert effective["head-metadata"]["human-annotated"] == "yes"
    assert effective["keypoints"] == auto["keypoints"]  # no human keypoints job here: the auto label stays
    stored = json.loads(
        aws.s3.get_object(Bucket="test-data", Key="dataset/human/clip-1/000001-head-l1.json")["Body"].read()
    )
    assert stored["head"]["annotations"][0]["left"] == 301
    assert stored[DEDUP_ATTRIBUTE] == task.dedup_id
    layout = aws.s3.list_objects_v2(Bucket="test-data", Prefix=f"labeling/{job.name}/")["Contents"]
    keys = sorted(o["Key"].removeprefix(f"labeling/{job.name}/") for o in layout)
    assert keys[0].startswith(f"annotations/consolidated-annotation/output/{task.object_id}/")
    assert keys[1].startswith(f"annotations/worker-response/iteration-1/{task.object_id}/")
    assert keys[2] == f"manifests/output/lines/{task.object_id:010d}.jsonl"  # immutable: one object per line
    line = aws.s3.get_object(Bucket="test-data", Key=f"labeling/{job.name}/{keys[2]}")["Body"].read().decode()
    assert json.loads(line)["head"]["annotations"][0]["left"] == 301


def test_an_expired_task_is_resent_once_with_a_new_dedup_id_and_then_labeled(
    aws: AwsClients, stack: ProvisionedStack
) -> None:
    """Past TaskAvailabilityLifetime the portal reports expiry; gt-bridge resends exactly once with
    a new dedup id, the portal accepts it as a new object, and its label completes the frame."""
    with labeling_loop(aws, stack, modalities=("head",), task_lifetime_s=int(2 * DAY)) as loop:
        EventPublisher.for_stack(aws, StackNames("test")).publish(review(2))
        loop.settle(1)
        loop.portal.tick()
        job = loop.job("head-l1")
        [first] = loop.portal.open_tasks(job.name)
        loop.clock.advance(2 * DAY + 1)
        loop.portal.tick()  # expires, notifies gt-bridge
        loop.settle(2)
        loop.portal.tick()
        [second] = loop.portal.open_tasks(job.name)
        assert second.dedup_id != first.dedup_id
        loop.portal.submit(job, second.object_id, human_label("head"), worker="bob")
        loop.settle(3)
    assert loop.portal.counts["received"] == 2
    assert loop.portal.counts["expired"] == 1
    [item] = loop.deps.state.objects()
    assert (item.status, item.generation, item.expiries) == ("completed", 1, 1)
    assert len(loop.labels()) == 1
    report = labelloop_cli(aws, "jobs", "--json")
    assert json.loads(report.stdout)["jobs"] == [
        {"job": "head-l1", "job_name": "test-head-l1-1", "sent": 1, "in_portal": 0, "completed": 1, "expired": 1,
         "resent": 0, "failed": 0, "stuck": 0, "state": "live"}
    ]  # fmt: skip


def test_level_two_receives_the_level_one_label(aws: AwsClients, stack: ProvisionedStack) -> None:
    """With keypoint adjustment on, the level-2 task carries the level-1 label; only the final level completes."""
    with labeling_loop(aws, stack, modalities=("keypoints",), level2=("keypoints",)) as loop:
        EventPublisher.for_stack(aws, StackNames("test")).publish(review(3))
        loop.settle(1)
        loop.portal.tick()
        level1 = loop.job("keypoints-l1")
        [task] = loop.portal.open_tasks(level1.name)
        loop.portal.submit(level1, task.object_id, human_label("keypoints"), worker="carol")
        loop.settle(2)
        loop.portal.tick()
        level2 = loop.job("keypoints-l2")
        [adjust] = loop.portal.open_tasks(level2.name)
        assert adjust.line["keypoints"]["crowdKeypoint"]["keypoints"][0]["visibility"] == "occluded"
        assert adjust.line["keypoints-metadata"]["human-annotated"] == "yes"
        loop.portal.submit(level2, adjust.object_id, human_label("keypoints-adjusted"), worker="dave")
        loop.settle(3)
    [label] = loop.labels()
    assert (label.modality, label.level) == ("keypoints", 2)
    for level in (1, 2):
        aws.s3.head_object(Bucket="test-data", Key=f"dataset/human/clip-1/000003-keypoints-l{level}.json")
    [effective] = effective_lines(aws.s3, "test-data").values()
    assert effective["keypoints"] == human_label("keypoints-adjusted")["keypoints-adjusted"]  # level 2 wins


def test_a_job_stopped_after_ten_idle_days_is_replaced_and_takes_new_frames(
    aws: AwsClients, stack: ProvisionedStack
) -> None:
    """The portal stops a job idle for 10 days (as Ground Truth does); the sweep creates the next
    incarnation on the same topics and new frames are labeled there."""
    with labeling_loop(aws, stack, modalities=("head",)) as loop:
        first = loop.job("head-l1")
        loop.clock.advance(10 * DAY + 60)
        loop.portal.tick()
        assert get_job(aws.dynamodb, "test-portal", first.name).status == "Stopped"  # type: ignore[union-attr]
        handlers.sweep(loop.deps)
        loop.portal.tick()
        second = loop.job("head-l1")
        assert (second.name, second.status) == ("test-head-l1-2", "InProgress")
        assert second.input_topic_arn == first.input_topic_arn
        EventPublisher.for_stack(aws, StackNames("test")).publish(review(4))
        loop.settle(1)
        loop.portal.tick()
        [task] = loop.portal.open_tasks(second.name)
        loop.portal.submit(second, task.object_id, human_label("head"), worker="erin")
        loop.settle(2)
    [label] = loop.labels()
    assert label.job_name == "test-head-l1-2"


@pytest.mark.timeout(900)  # its own deadline (600 s) says what is missing first
def test_hundreds_of_objects_with_abandonment_are_all_labeled(aws: AwsClients, stack: ProvisionedStack) -> None:
    """200 frames, the simulated annotator abandons 20% of tasks: expiries are resent and every
    frame ends labeled exactly once; no object is lost.

    (It ran with 1,000 frames: every one was labeled, in 530 s on a quiet 2-core machine, so a
    deadline it missed there was slowness, never loss; the emulator's ~10 ms per call is the bound.)
    """
    frames = 200
    truth = frame(0, clip="truth").model_dump_json().encode()
    for n in range(frames):
        bucket, key = frame_truth_location(f"s3://test-data/frames/big/{n:06d}.jpg")
        aws.s3.put_object(Bucket=bucket, Key=key, Body=truth)
    annotator = SimulatedAnnotator(aws.s3, delay_s=3600, error_rate=0.1, abandon_rate=0.2, seed=7)
    with labeling_loop(aws, stack, annotator, modalities=("head",), task_lifetime_s=int(DAY)) as loop:
        EventPublisher.for_stack(aws, StackNames("test")).publish_all([review(n, clip="big") for n in range(frames)])
        labels: list[LabelsCompleted] = []
        deadline = time.monotonic() + 600  # generous: the loop ends as soon as every frame is labeled
        while len(labels) < frames and time.monotonic() < deadline:
            loop.portal.tick()
            loop.clock.advance(6 * 3600)  # a quarter of a task's lifetime per tick
            labels += loop.labels()
    labeled = sorted(label.frame.frame_no for label in labels)
    missing = sorted(set(range(frames)) - set(labeled))
    assert not missing, f"{len(missing)} frames never labeled, e.g. {missing[:10]}; portal {loop.portal.counts}"
    assert labeled == list(range(frames)), "a frame was labeled twice"
    items = loop.deps.state.objects()
    assert len(items) == frames
    assert {item.status for item in items} == {"completed"}
    expiries = sum(item.expiries for item in items)
    # Each attempt is abandoned with p = 0.2 and resent, so an object expires p / (1 - p) = 0.25 times on
    # average (some twice), with variance p / (1 - p)^2: the total stays within 3.5 standard deviations.
    mean, sd = 0.25 * frames, math.sqrt(0.3125 * frames)
    assert mean - 3.5 * sd < expiries < mean + 3.5 * sd, f"{expiries} expiries for {frames} objects"
    assert loop.portal.counts["expired"] == expiries
    assert loop.portal.counts["duplicates"] == 0


def test_the_portal_holds_at_most_max_concurrent_tasks_and_the_rest_wait(
    aws: AwsClients, stack: ProvisionedStack
) -> None:
    """With MaxConcurrentTaskCount 2, five objects make two tasks; the others wait in the job's queue
    and become tasks as answers free room."""
    with labeling_loop(aws, stack, modalities=("head",), max_concurrent_tasks=2) as loop:
        publisher = EventPublisher.for_stack(aws, StackNames("test"))
        publisher.publish_all([review(n, clip="cap") for n in range(5)])
        loop.settle(5)
        loop.portal.tick()
        job = loop.job("head-l1")
        assert len(loop.portal.open_tasks(job.name)) == 2
        assert loop.portal.counts["received"] == 2
        for task in loop.portal.open_tasks(job.name):
            loop.portal.submit(job, task.object_id, human_label("head"), worker="frank")
        loop.portal.tick()
        assert len(loop.portal.open_tasks(job.name)) == 2
        assert loop.portal.counts["received"] == 4


def _queue_policy(aws: AwsClients, queue_url: str) -> dict[str, Any]:
    attributes = aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy", "QueueArn"])["Attributes"]
    return json.loads(attributes["Policy"])  # type: ignore[no-any-return]


def test_jobs_created_at_run_time_keep_the_deployed_queue_policy(aws: AwsClients, stack: ProvisionedStack) -> None:
    """gt-bridge's queue as CloudFormation writes its policy (ArnEquals on human-review-requested): creating
    the labeling jobs adds their output topics beside it and never drops it, so review requests still
    reach gt-bridge after the first job."""
    queue_url = stack.queue_urls["gt-bridge"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    review_topic = stack.topic_arns["human-review-requested"]
    deployed = {"Sid": "AllowSubscribedTopics", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage", "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": [review_topic]}}}  # fmt: skip
    aws.sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps({"Statement": [deployed]})})
    with labeling_loop(aws, stack, level2=("keypoints",)) as loop:
        policy = _queue_policy(aws, queue_url)
        assert policy["Statement"][0] == deployed
        assert allows_topic(policy, review_topic)
        for key in ("head-l1", "keypoints-l1", "keypoints-l2"):
            job = loop.deps.state.job(key)
            assert job is not None
            assert allows_topic(policy, job.output_topic), key
        EventPublisher.for_stack(aws, StackNames("test")).publish(review(1))
        loop.settle(1)
        # A stack update rewrites the policy to the deployed one: the next sweep puts the jobs' topics back.
        aws.sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps({"Statement": [deployed]})})
        handlers.sweep(loop.deps)
        healed = _queue_policy(aws, queue_url)
        assert allows_topic(healed, review_topic)
        for key in ("head-l1", "keypoints-l1", "keypoints-l2"):
            assert allows_topic(healed, loop.deps.state.job(key).output_topic), key  # type: ignore[union-attr]


def forbid_scans(monkeypatch: pytest.MonkeyPatch, dynamodb: Any) -> None:
    """Until ``monkeypatch.undo()``, any scan through ``dynamodb`` fails the test: a hot path must query."""
    paginator = dynamodb.get_paginator

    def no_scans(*_: object, **__: object) -> None:
        raise AssertionError("a hot path scanned a table")

    monkeypatch.setattr(dynamodb, "scan", no_scans)
    monkeypatch.setattr(dynamodb, "get_paginator", lambda name: no_scans() if name == "scan" else paginator(name))


def _set_status(aws: AwsClients, loop: Loop, key: str, status: str) -> None:
    save_job(aws.dynamodb, "test-portal", loop.job(key).model_copy(update={"status": status}))


def test_one_job_that_is_not_running_never_holds_back_another_jobs_resends(
    aws: AwsClients, stack: ProvisionedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six frames in two jobs; the keypoint job is Initializing again when the retention sweep comes: the head
    job's six objects are resent all the same, the keypoint ones wait (counted) and go out once it runs. The
    sweep finds them through the pending index, without scanning the table."""
    with labeling_loop(aws, stack) as loop:
        EventPublisher.for_stack(aws, StackNames("test")).publish_all([review(n) for n in range(6)])
        loop.settle(6)
        _set_status(aws, loop, "keypoints-l1", "Initializing")
        loop.clock.advance(5 * DAY + 60)
        forbid_scans(monkeypatch, aws.dynamodb)  # the sweep must query the pending index, never scan the table
        result = handlers.sweep(loop.deps)
        assert (result.resent, result.waiting, result.errors) == (6, 6, 0)
        _set_status(aws, loop, "keypoints-l1", "InProgress")
        assert handlers.sweep(loop.deps).resent == 6
        monkeypatch.undo()
        assert all(item.resends == 1 for item in loop.deps.state.objects())


def test_a_job_that_keeps_dying_is_replaced_with_backoff_then_given_up_with_an_alarm(
    aws: AwsClients, stack: ProvisionedStack
) -> None:
    """Each incarnation fails before it runs: replaced at once, then only after the backoff (100 s, then 400 s),
    and after two replacements in a row the job is failed with the reason: no more incarnations, a metric
    for the alarm, `labelloop jobs` shows it; `labelloop jobs --retry` lets the next sweep try again."""
    with labeling_loop(aws, stack, modalities=("head",), job_replace_after_s=100, job_max_replacements=2) as loop:
        EventPublisher.for_stack(aws, StackNames("test")).publish(review(1))
        loop.settle(1)

        def dies_and_sweep(advance_s: float = 0.0) -> str:
            _set_status(aws, loop, "head-l1", "Failed")
            loop.clock.advance(advance_s)
            handlers.sweep(loop.deps)
            return loop.deps.state.job("head-l1").job_name  # type: ignore[union-attr]

        assert dies_and_sweep() == "test-head-l1-2"
        assert dies_and_sweep() == "test-head-l1-2"  # within the backoff
        assert dies_and_sweep(100) == "test-head-l1-3"
        assert dies_and_sweep(400) == "test-head-l1-3"  # given up
        job = loop.deps.state.job("head-l1")
        assert job is not None
        assert "2 incarnations in a row ended Failed" in job.failure
        loop.clock.advance(DAY)
        handlers.sweep(loop.deps)
        assert loop.deps.state.job("head-l1").job_name == "test-head-l1-3"  # type: ignore[union-attr]
        metrics = aws.cloudwatch.list_metrics(Namespace="Labelloop", MetricName="LabelingJobFailed")["Metrics"]
        assert sorted(sorted((d["Name"], d["Value"]) for d in metric["Dimensions"]) for metric in metrics) == [
            [("Job", "head-l1"), ("Stack", "test")], [("Stack", "test")]
        ]  # fmt: skip

        [row] = json.loads(labelloop_cli(aws, "jobs", "--json").stdout)["jobs"]
        assert row["state"].startswith("failed: 2 incarnations in a row ended Failed")
        assert "cleared: head-l1" in labelloop_cli(aws, "jobs", "--retry", "head-l1").stdout
        handlers.sweep(loop.deps)
        assert loop.deps.state.job("head-l1").job_name == "test-head-l1-4"  # type: ignore[union-attr]
        [row] = json.loads(labelloop_cli(aws, "jobs", "--json").stdout)["jobs"]
        assert row["state"] == "live"


def test_a_task_failing_otherwise_than_by_expiry_is_resent_under_a_new_id_then_given_up_with_the_reason(
    aws: AwsClients, stack: ProvisionedStack
) -> None:
    """A worker rejects the task (a failure-reason that is not an expiry): the object goes out again under a
    new dedup id and the portal shows it anew; after MAX_FAILURES such resends the object is failed and the
    output line dead-lettered with the reason. `labelloop jobs` counts it failed, and nothing stuck."""
    with labeling_loop(aws, stack, modalities=("head",), max_failures=1, dead_letters=1) as loop:
        EventPublisher.for_stack(aws, StackNames("test")).publish(review(3))
        loop.settle(1)
        job = loop.deps.state.job("head-l1")
        assert job is not None
        [item] = loop.deps.state.objects()

        def rejected(line: dict[str, Any]) -> None:
            metadata = {"failure-reason": "ClientError: the worker rejected the task", "human-annotated": "yes"}
            aws.sns.publish(TopicArn=job.output_topic, Message=json.dumps({**line, "head-metadata": metadata}))

        rejected(item.line)
        loop.settle(2)
        [again] = loop.deps.state.objects()
        assert (again.status, again.generation, again.failures, again.expiries) == ("sent", 1, 1, 0)
        assert line_dedup_id(again.line) != line_dedup_id(item.line)
        assert again.sent_at > 0  # out under its new id
        loop.portal.tick()
        # (the rejected task is still open here only because this test, not the portal, rejected it)
        assert line_dedup_id(again.line) in {task.dedup_id for task in loop.portal.open_tasks(loop.job("head-l1").name)}
        rejected(again.line)
        eventually(lambda: loop.worker.counts["dead_lettered"] == 1, timeout_s=60)
        [failed] = loop.deps.state.objects()
        assert (failed.status, failed.failures) == ("failed", 1)
        assert "failed 2 times, last: ClientError: the worker rejected the task" in failed.failure
        [reason] = dead_letter_reasons(aws, stack, "gt-bridge")
        assert "the worker rejected the task" in reason
        handlers.sweep(loop.deps)  # a failed object is not resent
        assert loop.deps.state.objects()[0].resends == 0
        report = labelloop_cli(aws, "jobs", "--json")
        [row] = json.loads(report.stdout)["jobs"]
        assert (row["failed"], row["stuck"], row["in_portal"]) == (1, 0, 0)


class _ThrottledWrites:
    """A DynamoDB client whose ``nth`` write from now on (1: the next) is throttled, once."""

    WRITES = frozenset({"put_item", "update_item", "delete_item", "transact_write_items"})

    def __init__(self, client: Any, nth: int) -> None:
        self._client, self._left = client, nth

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self.WRITES:
            return attribute

        def write(*args: Any, **kwargs: Any) -> Any:
            self._left -= 1
            if self._left == 0:
                raise ClientError(
                    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, name
                )
            return attribute(*args, **kwargs)

        return write


class _WithDynamoDB:
    def __init__(self, aws: AwsClients, dynamodb: Any) -> None:
        self._aws, self.dynamodb = aws, dynamodb

    def __getattr__(self, name: str) -> Any:
        return getattr(self._aws, name)


@pytest.mark.parametrize("nth_write", [1, 2, 3])
def test_a_throttle_at_any_write_of_the_portals_intake_loses_no_object(
    aws: AwsClients, stack: ProvisionedStack, monkeypatch: pytest.MonkeyPatch, nth_write: int
) -> None:
    """DynamoDB throttles the portal's 1st, 2nd or 3rd write while it takes an object in (drawing its number,
    storing its dedup id and task, recording the job's activity): the object is still shown exactly once,
    by the next tick, and labelled once. (Claim and task were two writes: a throttle between them left an
    id claimed without a task, never shown, every resend dropped as a duplicate.)"""
    with labeling_loop(aws, stack, modalities=("head",)) as loop:
        EventPublisher.for_stack(aws, StackNames("test")).publish(review(7))
        loop.settle(1)
        monkeypatch.setattr(loop.portal, "_clients", _WithDynamoDB(aws, _ThrottledWrites(aws.dynamodb, nth_write)))
        loop.portal.tick()  # throttled somewhere in its writes
        loop.portal.tick()
        monkeypatch.undo()
        loop.portal.tick()
        job = loop.job("head-l1")
        [task] = loop.portal.open_tasks(job.name)
        [item] = loop.deps.state.objects()
        assert task.dedup_id == line_dedup_id(item.line)
        loop.portal.submit(job, task.object_id, human_label("head"), worker="erin")
        loop.settle(2)
    assert len(loop.labels()) == 1


def test_labeling_topics_created_at_run_time_are_encrypted_with_the_stacks_key(
    aws: AwsClients, stack: ProvisionedStack
) -> None:
    """On ECS gt-bridge gets the stack's messaging key: every job topic it creates is encrypted with it."""
    with labeling_loop(aws, stack, level2=("keypoints",), topic_kms_key="alias/test-messaging") as loop:
        for key in ("head-l1", "keypoints-l1", "keypoints-l2"):
            job = loop.deps.state.job(key)
            assert job is not None
            for topic in (job.input_topic, job.output_topic):
                attributes = aws.sns.get_topic_attributes(TopicArn=topic)["Attributes"]
                assert attributes.get("KmsMasterKeyId") == "alias/test-messaging", topic


def test_the_portals_pass_reads_its_jobs_without_scanning_its_table(
    aws: AwsClients, stack: ProvisionedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The portal's table grows with every object (dedup ids, tasks); each pass (every 0.5 s) finds its jobs
    through the job list instead, so with scans forbidden a review still becomes a task and an answer."""
    with labeling_loop(aws, stack, modalities=("head",)) as loop:
        forbid_scans(monkeypatch, aws.dynamodb)
        EventPublisher.for_stack(aws, StackNames("test")).publish(review(5))
        loop.settle(1)
        loop.portal.tick()
        job = loop.job("head-l1")
        [task] = loop.portal.open_tasks(job.name)
        loop.portal.submit(job, task.object_id, human_label("head"), worker="erin")
        loop.settle(2)
        monkeypatch.undo()
    assert len(loop.labels()) == 1


def test_two_portal_processes_share_the_tasks_and_one_answer_wins(aws: AwsClients, stack: ProvisionedStack) -> None:
    """Tasks live in DynamoDB only: a second portal process (a restart, or another ECS task behind the load
    balancer) sees the task the first took in, either can take the answer, and a late second answer is
    refused; the object is labelled once and its output line is one immutable object."""
    with labeling_loop(aws, stack, modalities=("head",)) as loop:
        other = Portal(aws, StackNames("test"), loop.clock, None)
        EventPublisher.for_stack(aws, StackNames("test")).publish(review(8))
        loop.settle(1)
        loop.portal.tick()
        other.tick()  # nothing new for it: the task is the same one
        job = loop.job("head-l1")
        [task] = other.open_tasks(job.name)
        assert [t.object_id for t in loop.portal.open_tasks(job.name)] == [task.object_id]
        other.submit(job, task.object_id, human_label("head"), worker="grace")
        with pytest.raises(TaskNotOpenError):
            loop.portal.submit(job, task.object_id, human_label("head"), worker="heidi")
        loop.settle(2)
        assert loop.portal.open_tasks(job.name) == other.open_tasks(job.name) == []
    [label] = loop.labels()
    assert label.frame.frame_no == 8
    lines = aws.s3.list_objects_v2(Bucket="test-data", Prefix=f"labeling/{job.name}/manifests/output/lines/")
    assert lines["KeyCount"] == 1
    [response] = aws.s3.list_objects_v2(Bucket="test-data", Prefix=f"labeling/{job.name}/annotations/worker-response/")[
        "Contents"
    ]
    answer = json.loads(aws.s3.get_object(Bucket="test-data", Key=response["Key"])["Body"].read())
    assert answer["answers"][0]["workerId"] == "grace"


def test_a_portal_upgraded_from_in_memory_tasks_adopts_the_open_ones(aws: AwsClients, stack: ProvisionedStack) -> None:
    """Portals before this layout stored each task as a JSON blob and kept the open ones in memory; the first
    start of this one puts them in the open index (once: a marker item saves later starts the scan)."""
    legacy = {"job": "old-job", "object_id": 3, "dedup_id": "d3", "line": {"source-ref": "s3://test-data/x.jpg"},
              "created_at": 0.0, "expires_at": 1e12, "answer_at": None, "status": "open"}  # fmt: skip
    done = {**legacy, "object_id": 4, "dedup_id": "d4", "status": "done"}
    for task in (legacy, done):
        aws.dynamodb.put_item(TableName="test-portal", Item={
            "pk": {"S": f"task#old-job#{task['object_id']}"}, "task": {"S": json.dumps(task)}})  # fmt: skip
    store = TaskStore(aws.dynamodb, "test-portal")
    assert store.unfinished("old-job") == []
    assert store.adopt_legacy_tasks() == 2
    assert [t.object_id for t in store.unfinished("old-job")] == [3]
    assert store.adopt_legacy_tasks() == 0  # the marker: no second scan


def test_a_send_asks_the_backend_for_its_jobs_status_once(
    aws: AwsClients, stack: ProvisionedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DescribeLabelingJob (Ground Truth throttles it) is asked once per send: ensuring the job reads its status,
    and checking it runs reuses that answer (it was asked twice)."""
    with labeling_loop(aws, stack, modalities=("head",)) as loop:
        asked: list[str] = []
        status = PortalBackend.status

        def counted(backend: PortalBackend, job_name: str) -> Any:
            asked.append(job_name)
            return status(backend, job_name)

        monkeypatch.setattr(PortalBackend, "status", counted)
        EventPublisher.for_stack(aws, StackNames("test")).publish(review(9))
        loop.settle(1)
        assert asked == [loop.job("head-l1").name]


def test_the_page_refuses_a_second_answer_to_a_task_with_409(aws: AwsClients, stack: ProvisionedStack) -> None:
    """Two people (or tabs) answer the same task: the first answer stands, the second gets 409 Conflict."""
    with labeling_loop(aws, stack, modalities=("head",)) as loop:
        port = free_port()
        server = serve_web(loop.portal, "127.0.0.1", port)
        eventually(lambda: server.started, timeout_s=20)
        EventPublisher.for_stack(aws, StackNames("test")).publish(review(10))
        loop.settle(1)
        loop.portal.tick()
        job = loop.job("head-l1")
        [task] = loop.portal.open_tasks(job.name)
        answer = json.dumps({"boxes": [{"left": 1, "top": 2, "width": 30, "height": 40}]}).encode()
        statuses = []
        for _ in range(2):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/tasks/{job.name}/{task.object_id}",
                                             data=answer, headers={"Content-Type": "application/json"})  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own local server
                    statuses.append(response.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        server.should_exit = True
        loop.settle(2)
    assert statuses == [200, 409]
