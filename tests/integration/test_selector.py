"""selector end to end on a real moto server: PredictionsReady in, decisions, manifests and events out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from labelloop import (
    AutoAcceptedBatch,
    AwsClients,
    EventPublisher,
    FramePredictions,
    HumanReviewRequested,
    PredictionsReady,
    StackNames,
    build_worker,
    new_event_id,
)
from labelloop.provision import ProvisionedStack
from labelloop_selector.entrypoint import SERVICE, build_deps
from labelloop_selector.handlers import handle_predictions_ready
from labelloop_selector.policy import frame_key, version_tag
from labelloop_selector.settings import SelectorSettings
from labelloop_selector.state import SelectorState

from tests.helpers import drain, eventually, worker_running
from tests.predictions import frame

pytestmark = pytest.mark.integration
DATA = "test-data"
VERSIONS: dict[str, str] = {"pose_main": "1", "pose_visible": "1", "head": "1"}
DOUBTFUL: dict[str, Any] = {"head": 0.55, "points": [(0.62, 0.58)] * 5}


@pytest.fixture
def auto_queue(aws: AwsClients, stack: ProvisionedStack) -> str:
    """A queue on the auto-accepted topic (nothing consumes it in the pipeline yet)."""
    url = aws.sqs.create_queue(QueueName="test-auto-accepted-probe")["QueueUrl"]
    arn = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.sns.subscribe(
        TopicArn=stack.topic_arns["auto-accepted"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return url


def predictions_ready(frames: list[FramePredictions], clip: str = "clip-1", **versions: str) -> PredictionsReady:
    return PredictionsReady(
        event_id=new_event_id(),
        correlation_id=clip,
        clip_id=clip,
        predictions=frames,
        model_versions=VERSIONS | versions,  # type: ignore[arg-type]
        skeleton=[("nose", "left_eye")],
        track_attributes={"glasses": ["no", "yes"]},
    )


def judged(
    aws: AwsClients, stack: ProvisionedStack, auto_queue: str, event: PredictionsReady, **settings: Any
) -> tuple[list[AutoAcceptedBatch], list[HumanReviewRequested], dict[int, dict[str, Any]]]:
    """Run the selector over one event; return what it auto-accepted (one event per batch), sent to
    people, deferred."""
    config = SelectorSettings(**({"stack": "test", "poll_wait_s": 1, "control_fraction": 0.0} | settings))
    with worker_running(build_worker(SERVICE, config, aws)) as worker:
        EventPublisher.for_stack(aws, StackNames("test")).publish(event)
        eventually(lambda: worker.counts["handled"] + worker.counts["dead_lettered"] >= 1, timeout_s=30)
    assert worker.counts["dead_lettered"] == 0
    auto = drain(aws, auto_queue)
    human = sorted(drain(aws, stack.queue_urls["gt-bridge"]), key=lambda e: e.predictions.frame.frame_no)
    listing = aws.s3.list_objects_v2(Bucket=DATA, Prefix=f"dataset/deferred/{event.clip_id}/")
    deferred = {
        int(o["Key"].rsplit("/", 1)[1].split(".")[0]): json.loads(
            aws.s3.get_object(Bucket=DATA, Key=o["Key"])["Body"].read()
        )
        for o in listing.get("Contents", [])
    }
    return auto, human, deferred


def test_confident_frames_are_auto_accepted_and_doubtful_ones_go_to_people(
    aws: AwsClients, stack: ProvisionedStack, auto_queue: str
) -> None:
    """Above the threshold → auto-accepted (in the batch's AutoAcceptedBatch, a GT manifest line); below,
    or empty → HumanReviewRequested."""
    event = predictions_ready([frame(0), frame(1, **DOUBTFUL, shift=200), frame(2, head=None, person=None)])
    [accepted], human, deferred = judged(aws, stack, auto_queue, event)
    assert [(f.uri, f.frame_no, f.audit) for f in accepted.frames] == [(event.predictions[0].frame.uri, 0, False)]
    assert [(e.predictions.frame.frame_no, e.reason) for e in human] == [(1, "uncertain"), (2, "uncertain")]
    assert human[0].skeleton == [("nose", "left_eye")]  # the rig's edges travel on, for the portal to draw
    assert human[0].track_attributes == {"glasses": ["no", "yes"]}  # and its track attributes, to ask once
    assert deferred == {}
    assert accepted.strategy == "least_confidence"
    assert accepted.frames[0].score > 0.5 > human[0].score
    manifest_key = accepted.manifest_uri.removeprefix(f"s3://{DATA}/")
    assert manifest_key.startswith("dataset/auto/clip-1/000000-000002-")
    assert manifest_key.endswith(".jsonl")
    [line] = [json.loads(x) for x in aws.s3.get_object(Bucket=DATA, Key=manifest_key)["Body"].read().splitlines()]
    assert line["source-ref"] == "s3://test-data/frames/clip-1/000000.jpg"
    assert line["head-metadata"]["human-annotated"] == "no"
    assert line["head-metadata"]["objects"] == [{"confidence": 0.95}]
    assert line["head"]["annotations"] == [{"class_id": 0, "left": 300, "top": 80, "width": 60, "height": 70}]
    assert [k["visibility"] for k in line["keypoints"]["crowdKeypoint"]["keypoints"]] == ["visible"] * 5
    assert line["keypoints-metadata"]["persons"][0]["keypoint-confidences"][0] == {"main": 0.95, "visible": 0.95}
    assert line["labelloop-model-versions"] == accepted.model_versions  # which models labelled it (exports say)


def test_control_arm_sends_auto_accepted_frames_to_people_too(
    aws: AwsClients, stack: ProvisionedStack, auto_queue: str
) -> None:
    """Control frames are auto-accepted AND reviewed by people, tagged control_arm; the accepted frames
    are one event and one JSONL object for the batch."""
    event = predictions_ready([frame(0), frame(1, shift=100)])
    [accepted], human, _ = judged(aws, stack, auto_queue, event, control_fraction=1.0)
    assert [(f.frame_no, f.audit) for f in accepted.frames] == [(0, True), (1, True)]
    assert [(e.predictions.frame.frame_no, e.reason) for e in human] == [(0, "control_arm"), (1, "control_arm")]
    body = aws.s3.get_object(Bucket=DATA, Key=accepted.manifest_uri.removeprefix(f"s3://{DATA}/"))["Body"].read()
    assert [json.loads(line)["source-ref"] for line in body.splitlines()] == [
        "s3://test-data/frames/clip-1/000000.jpg",
        "s3://test-data/frames/clip-1/000001.jpg",
    ]


def test_per_clip_budget_defers_the_rest(
    aws: AwsClients, stack: ProvisionedStack, auto_queue: str, names: StackNames
) -> None:
    """With 2 human tasks per clip, the 3rd-5th doubtful frames are deferred as over budget."""
    event = predictions_ready([frame(n, **DOUBTFUL, shift=60 * n) for n in range(5)])
    _, human, deferred = judged(aws, stack, auto_queue, event, max_human_per_clip=2)
    assert [e.predictions.frame.frame_no for e in human] == [0, 1]
    assert {n: d["route"] for n, d in deferred.items()} == {2: "over_budget", 3: "over_budget", 4: "over_budget"}
    assert SelectorState(aws.dynamodb, names.physical("selector-state")).human_count("clip-1") == 2


def test_a_batch_within_its_budget_spends_it_in_one_write_and_one_past_it_stops_at_the_limit(
    aws: AwsClients, stack: ProvisionedStack, auto_queue: str, names: StackNames
) -> None:
    """Three doubtful frames under a per-clip budget of 5: one budget write for all three, not one per
    frame. Three more: only two fit, so they are decided frame by frame and the third is deferred."""
    updates: list[str] = []
    aws.dynamodb.meta.events.register("provide-client-params.dynamodb.UpdateItem",
                                      lambda params, **_: updates.append(params["Key"]["pk"]["S"]))  # fmt: skip
    first = predictions_ready([frame(n, **DOUBTFUL, shift=60 * n) for n in range(3)])
    _, human, _ = judged(aws, stack, auto_queue, first, max_human_per_clip=5)
    assert [e.predictions.frame.frame_no for e in human] == [0, 1, 2]
    assert updates == ["clip#clip-1"]
    later = predictions_ready([frame(n, **DOUBTFUL, shift=60 * n) for n in range(3, 6)])
    _, human, deferred = judged(aws, stack, auto_queue, later, max_human_per_clip=5)
    assert [e.predictions.frame.frame_no for e in human] == [3, 4]
    assert {n: d["route"] for n, d in deferred.items()} == {5: "over_budget"}
    assert SelectorState(aws.dynamodb, names.physical("selector-state")).human_count("clip-1") == 5


def test_hourly_budget_spans_clips(aws: AwsClients, stack: ProvisionedStack, auto_queue: str) -> None:
    """The hourly budget counts every clip: 3 per hour across two clips of 2 doubtful frames."""
    first = predictions_ready([frame(n, **DOUBTFUL, shift=60 * n, clip="a") for n in range(2)], clip="a")
    second = predictions_ready([frame(n, **DOUBTFUL, shift=60 * n, clip="b") for n in range(2)], clip="b")
    _, human_a, _ = judged(aws, stack, auto_queue, first, max_human_per_hour=3)
    _, human_b, deferred_b = judged(aws, stack, auto_queue, second, max_human_per_hour=3)
    assert len(human_a) == 2
    assert [e.predictions.frame.frame_no for e in human_b] == [0]
    assert {n: d["route"] for n, d in deferred_b.items()} == {1: "over_budget"}


def test_near_duplicates_are_suppressed_within_and_across_batches(
    aws: AwsClients, stack: ProvisionedStack, auto_queue: str
) -> None:
    """Consecutive doubtful frames that barely move go to people once; the rest are deferred as
    duplicates of it, also in the clip's next batch; a frame that moved goes to people again."""
    still = [frame(n, **DOUBTFUL, shift=n * 0.5) for n in range(4)]
    _, human, deferred = judged(aws, stack, auto_queue, predictions_ready(still))
    assert [e.predictions.frame.frame_no for e in human] == [0]
    assert {n: (d["route"], d["near_duplicate_of"]) for n, d in deferred.items()} == {
        1: ("near_duplicate", 0),
        2: ("near_duplicate", 0),
        3: ("near_duplicate", 0),
    }
    later = [frame(10, **DOUBTFUL, shift=3.0), frame(11, **DOUBTFUL, shift=80.0)]
    _, human, deferred = judged(aws, stack, auto_queue, predictions_ready(later))
    assert [e.predictions.frame.frame_no for e in human] == [11]
    assert deferred[10]["near_duplicate_of"] == 0


def test_a_frame_is_judged_once_per_model_version(
    aws: AwsClients, stack: ProvisionedStack, auto_queue: str, names: StackNames
) -> None:
    """The same frames in a new event (a re-run of inference) reuse their decisions: same event ids,
    no budget spent twice. A new model version is a new judgement — in which a frame already with
    people is a near-duplicate of itself rather than a second task, unless it is drawn for an audit:
    an audit's frame is labelled whatever it looks like, or the audits would miss doubtful frames."""
    frames = [frame(0, **DOUBTFUL), frame(1, shift=100)]
    _, first, _ = judged(aws, stack, auto_queue, predictions_ready(frames))
    _, again, _ = judged(aws, stack, auto_queue, predictions_ready(frames), control_fraction=1.0)
    state = SelectorState(aws.dynamodb, names.physical("selector-state"))
    assert [e.event_id for e in again] == [e.event_id for e in first]
    assert state.human_count("clip-1") == 1
    _, retrained, deferred = judged(aws, stack, auto_queue, predictions_ready(frames, head="2"))
    assert retrained == []
    assert {n: (d["route"], d["near_duplicate_of"]) for n, d in deferred.items()} == {0: ("near_duplicate", 0)}
    assert state.human_count("clip-1") == 1
    _, audited, _ = judged(aws, stack, auto_queue, predictions_ready(frames, head="3"), control_fraction=1.0)
    assert [(e.predictions.frame.frame_no, e.reason, e.audit) for e in audited] == [
        (0, "uncertain", True),
        (1, "control_arm", True),
    ]
    assert state.human_count("clip-1") == 3


def test_a_batch_retried_after_a_crash_between_its_claim_and_its_frames_keeps_what_it_claimed(
    aws: AwsClients, stack: ProvisionedStack, auto_queue: str, names: StackNames
) -> None:
    """The batch's decisions are claimed in one item before each frame's own item is written. A crash
    between the two, then a retry that would judge otherwise (here a stricter threshold): the claimed
    decisions stand, the budget is not spent twice, and what goes out is what was claimed."""
    event = predictions_ready([frame(0), frame(1, **DOUBTFUL, shift=200)])
    crashing = build_deps(aws, SelectorSettings(stack="test", control_fraction=0.0), names)

    def crash(**_: Any) -> None:
        raise RuntimeError("the process died before the frames' own items")

    aws.dynamodb.meta.events.register("before-call.dynamodb.BatchWriteItem", crash, unique_id="crash")
    try:
        with pytest.raises(RuntimeError, match="process died"):
            handle_predictions_ready(event, crashing)
    finally:
        aws.dynamodb.meta.events.unregister("before-call.dynamodb.BatchWriteItem", unique_id="crash")
    state = SelectorState(aws.dynamodb, names.physical("selector-state"))
    assert state.human_count("clip-1") == 1
    assert drain(aws, stack.queue_urls["gt-bridge"]) == []  # nothing went out before the crash
    [accepted], human, _ = judged(aws, stack, auto_queue, event, threshold=0.99)  # would send both to people
    assert [e.predictions.frame.frame_no for e in human] == [1]
    assert [f.frame_no for f in accepted.frames] == [0]
    assert state.human_count("clip-1") == 1
    frame_keys = [frame_key(p.frame.uri, version_tag(event.model_versions)) for p in event.predictions]
    stored = [state.decision(key) for key in frame_keys]
    assert [d.route if d else None for d in stored] == ["auto", "human"]
