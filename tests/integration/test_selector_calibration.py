"""Auto-acceptance at a stated quality, on a real moto server: the selector and gt-bridge as real
workers, the portal ticked by the test, a person's answers submitted through it.

No threshold is proven for new model versions, so every frame goes to people as an audit; their
answers, scored against the model's labels, prove the lowest threshold whose accuracy bound meets
the target; the next frames of those versions are judged by it, and the change is announced.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from labelloop import (
    AutoAcceptedBatch,
    AwsClients,
    EventPublisher,
    HumanReviewRequested,
    LabelsCompleted,
    PredictionsReady,
    StackNames,
    ThresholdChanged,
    Worker,
    build_worker,
    new_event_id,
)
from labelloop.model_set import ModelName
from labelloop.provision import ProvisionedStack
from labelloop_portal.portal import TaskNotOpenError
from labelloop_selector.audits import estimates_for, recalibrate
from labelloop_selector.calibration_store import CalibrationStore
from labelloop_selector.entrypoint import SERVICE, build_deps
from labelloop_selector.policy import version_tag
from labelloop_selector.settings import SelectorSettings

from tests.helpers import dead_letter_reasons, drain, eventually, labelloop_cli, worker_running
from tests.labeling import Loop, labeling_loop
from tests.predictions import frame

pytestmark = pytest.mark.integration
VERSIONS: dict[ModelName, str] = {"pose_main": "3", "pose_visible": "3", "head": "3"}
RIGHT_FRAMES = range(12)  # the model's head box is right; head confidence 0.70..0.92 (score 0.40..0.84)
WRONG_FRAMES = range(12, 16)  # wrong, at lower confidence 0.60..0.63 (score 0.20..0.26)


def head_confidence(frame_no: int) -> float:
    return 0.70 + 0.02 * frame_no if frame_no in RIGHT_FRAMES else 0.60 + 0.01 * (frame_no - 12)


def batch(frame_nos: range, clip: str) -> PredictionsReady:
    return PredictionsReady(
        event_id=new_event_id(),
        correlation_id=clip,
        clip_id=clip,
        predictions=[frame(n, clip=clip, head=head_confidence(n)) for n in frame_nos],
        model_versions=VERSIONS,
    )


def probe(aws: AwsClients, stack: ProvisionedStack, topic: str) -> str:
    url = aws.sqs.create_queue(QueueName=f"test-{topic}-probe")["QueueUrl"]
    arn = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.sns.subscribe(TopicArn=stack.topic_arns[topic], Protocol="sqs", Endpoint=arn,
                      Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    return url


def answer(frame_no: int) -> dict[str, Any]:
    """A person's head box: where the model put it, or far away where the model was wrong."""
    left = 300 if frame_no in RIGHT_FRAMES else 40
    return {"head": {"image_size": [{"width": 640, "height": 480, "depth": 3}],
                     "annotations": [{"class_id": 0, "left": left, "top": 80, "width": 60, "height": 70}]},
            "head-metadata": {"type": "groundtruth/object-detection", "human-annotated": "yes"}}  # fmt: skip


def answer_every_open_task(loop: Loop) -> int:
    loop.portal.tick()
    job = loop.job("head-l1")
    answered = 0
    for task in loop.portal.open_tasks(job.name):
        with contextlib.suppress(TaskNotOpenError):
            loop.portal.submit(job, task.object_id, answer(task.line["labelloop-frame"]["frame_no"]), worker="test")
            answered += 1
    return answered


@contextmanager
def selector_running(aws: AwsClients, dead_letters: int = 0, **settings: Any) -> Iterator[Worker]:
    config = SelectorSettings(**({"stack": "test", "poll_wait_s": 1, "calibration_refresh_s": 0} | settings))
    with worker_running(build_worker(SERVICE, config, aws)) as worker:
        yield worker
    assert worker.counts["dead_lettered"] == dead_letters


def test_audits_prove_a_threshold_that_then_auto_accepts_and_is_announced(
    aws: AwsClients, stack: ProvisionedStack
) -> None:
    auto_probe, thresholds_probe = probe(aws, stack, "auto-accepted"), probe(aws, stack, "thresholds")
    publisher = EventPublisher.for_stack(aws, StackNames("test"))
    store = CalibrationStore(aws.dynamodb, "test-selector-state", fixed_threshold=None)
    versions = version_tag(VERSIONS)
    # 0.8 at 90% needs 11 audits all right: the 12 right frames can prove it, the wrong ones must stay out
    targets = {"target_head_iou": 0.8, "confidence": 0.9, "min_audits": 5, "control_fraction": 0.0,
               "near_duplicate_distance": 0.0}  # fmt: skip
    with (
        labeling_loop(aws, stack, modalities=("head",)) as loop,
        selector_running(aws, **targets) as selector,
    ):
        publisher.publish(batch(range(16), "calibrate"))
        answered = 0

        def all_answered() -> bool:
            nonlocal answered
            answered += answer_every_open_task(loop)
            return answered == 16

        eventually(all_answered, timeout_s=60)
        calibrated = eventually(lambda: store.calibration(versions).threshold, timeout_s=60)
        assert calibrated == pytest.approx(2 * head_confidence(0) - 1)  # the lowest right frame's score
        # the next frames of these versions are judged by the proven threshold
        publisher.publish(batch(range(16), "after"))
        eventually(lambda: selector.counts["handled"] >= 1 + 16 + 1, timeout_s=60)
    [accepted] = [e for e in drain(aws, auto_probe) if isinstance(e, AutoAcceptedBatch)]
    assert [f.frame_no for f in accepted.frames] == list(RIGHT_FRAMES)
    # Audits arrive in any order: each proof of a lower threshold is one more revision, announced once.
    announced = [e for e in drain(aws, thresholds_probe) if isinstance(e, ThresholdChanged)]
    assert [e.revision for e in announced] == list(range(1, len(announced) + 1))
    assert announced[0].previous is None
    assert announced[-1].threshold == calibrated
    for event in announced:
        [estimate] = event.estimates
        assert estimate.bound is not None, estimate
        assert estimate.bound >= 0.8, estimate
        assert estimate.audits >= 11, estimate
    [final] = store.calibration(versions).estimates  # every audit in: the 12 right frames above the threshold
    assert (final.measure, final.target, final.audits, final.mean) == ("head", 0.8, 12, 1.0)
    assert final.bound == pytest.approx(0.1 ** (1 / 12), abs=1e-6)
    requests = [e for e in drain(aws, stack.queue_urls["gt-bridge"]) if isinstance(e, HumanReviewRequested)]
    assert requests == []  # gt-bridge consumed them all; what it was asked is in its state
    asked = {
        (item.line["labelloop-frame"]["clip_id"], item.line["labelloop-frame"]["frame_no"]):
        item.line["labelloop-frame"]["judged"]["audit"] for item in loop.deps.state.objects()
    }  # fmt: skip
    assert {k for k, audit in asked.items() if audit} == {("calibrate", n) for n in range(16)}
    assert {k for k, audit in asked.items() if not audit} == {("after", n) for n in WRONG_FRAMES}


def _settings(**changes: Any) -> SelectorSettings:
    return SelectorSettings(**({"stack": "test", "target_head_iou": 0.8, "min_audits": 5} | changes))


def _record_right_audits(store: CalibrationStore, versions: str, count: int) -> None:
    for n in range(count):
        store.record_audit(f"frame-{n}", "head", versions, 0.5 + n / 100, {"head": 1.0})


def test_a_change_stored_but_never_announced_is_announced_by_the_next_audit_once(
    aws: AwsClients, stack: ProvisionedStack
) -> None:
    """A crash between storing a new threshold and publishing its ThresholdChanged: the next audit's
    recalibration finds the revision unannounced and announces it, under the same event id."""
    thresholds_probe = probe(aws, stack, "thresholds")
    deps = build_deps(aws, _settings(), StackNames("test"))
    versions = version_tag(VERSIONS)
    _record_right_audits(deps.calibrations, versions, 12)
    threshold, estimates = estimates_for(deps, versions)
    saved = deps.calibrations.save(
        deps.calibrations.calibration(versions), threshold, list(estimates.values()), VERSIONS
    )
    assert saved is not None  # stored; then the process died before announcing it
    assert (saved.revision, threshold) == (1, 0.5)
    recalibrate(deps, versions, VERSIONS)
    recalibrate(deps, versions, VERSIONS)
    announced = [e for e in drain(aws, thresholds_probe) if isinstance(e, ThresholdChanged)]
    assert [(e.revision, e.threshold) for e in announced] == [(1, 0.5)]
    assert deps.calibrations.calibration(versions).announced == 1
    # and people see it: `labelloop selector`
    [row] = json.loads(labelloop_cli(aws, "selector", "--json").stdout)["calibrations"]
    assert row == {"versions": versions, "threshold": 0.5, "revision": 1, "measure": "head", "target": 0.8,
                   "audits": 12, "mean": 1.0, "bound": pytest.approx(0.1 ** (1 / 12), abs=1e-6)}  # fmt: skip
    assert "0.500" in labelloop_cli(aws, "selector").stdout


def test_a_calibration_changed_by_another_worker_is_recomputed_not_overwritten(
    aws: AwsClients, stack: ProvisionedStack
) -> None:
    deps = build_deps(aws, _settings(), StackNames("test"))
    versions = version_tag(VERSIONS)
    stale = deps.calibrations.calibration(versions)
    _record_right_audits(deps.calibrations, versions, 12)
    assert recalibrate(deps, versions, VERSIONS).revision == 1  # another worker's change
    assert deps.calibrations.save(stale, None, [], VERSIONS) is None
    assert deps.calibrations.calibration(versions).threshold == 0.5


def test_an_audit_that_does_not_say_what_judged_it_is_dead_lettered_with_the_reason(
    aws: AwsClients, stack: ProvisionedStack
) -> None:
    """A labelled line without the selector's judgement (sent by something other than gt-bridge, or
    an older one): the audit cannot be scored, the message goes to the DLQ, the selector goes on."""
    assert "no audit scored yet" in labelloop_cli(aws, "selector").stdout
    line = {"source-ref": "s3://test-data/frames/c/000001.jpg", "labelloop-frame": {"clip_id": "c", "frame_no": 1},
            **answer(1)}  # fmt: skip
    aws.s3.put_object(Bucket="test-data", Key="dataset/human/c/000001-head-l1.json", Body=json.dumps(line).encode())
    event = LabelsCompleted(correlation_id="c", clip_id="c", frame=frame(1, clip="c").frame, modality="head", level=1,
                            job_name="test-head-l1-1", dataset_object_id="1", audit=True,
                            output_uri="s3://test-data/dataset/human/c/000001-head-l1.json")  # fmt: skip
    with selector_running(aws, dead_letters=1, target_head_iou=0.8) as selector:
        EventPublisher.for_stack(aws, StackNames("test")).publish(event)
        eventually(lambda: selector.counts["dead_lettered"] == 1, timeout_s=30)
    [reason] = dead_letter_reasons(aws, stack, "selector")
    assert "does not say which score and model versions judged it" in reason
