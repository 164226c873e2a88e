"""The portal's web page in headless Chromium (Debian's, driven by Playwright), used as a person uses it:
adjusting the model's skeleton, adding and deleting persons, visibility by key, undo and redo, head boxes,
a level-2 adjustment; each answer is checked where it lands, in Ground Truth's S3 layout."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest
from botocore.exceptions import ClientError
from labelloop import AwsClients, FramePredictions, StackNames
from labelloop.clock import ManualClock
from labelloop.groundtruth import input_line, label_of
from labelloop.portal_api import PortalJob, create_job
from labelloop.provision import ProvisionedStack
from labelloop.synth import render, sample_scene
from labelloop_gt_bridge.handlers import prefill
from labelloop_portal.entrypoint import serve_web
from labelloop_portal.portal import Portal
from labelloop_tools.local import free_port

from tests.helpers import eventually
from tests.predictions import RIG, frame

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own background traffic is refused by a closed network; keep it quiet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip


PageTask = tuple[Portal, PortalJob, str]


def _new_job(aws: AwsClients, clock: ManualClock, modality: str = "keypoints", level: int = 1) -> PortalJob:
    """A portal job of its own (the stack outlives a test), as gt-bridge would create it."""
    name = f"test-{modality}-l{level}-{uuid.uuid4().hex[:8]}"
    topics = [aws.sns.create_topic(Name=f"{name}-{side}")["TopicArn"] for side in ("input", "output")]
    job = PortalJob(name=name, modality=modality, level=level,  # type: ignore[arg-type]
                    label_attribute=modality if level == 1 else f"{modality}-adjusted",
                    input_topic_arn=topics[0], output_topic_arn=topics[1], output_s3_uri="s3://test-data/labeling",
                    task_lifetime_s=86400, task_time_limit_s=3600, max_concurrent_tasks=10,
                    created_at=clock.now(), last_activity_at=clock.now())  # fmt: skip
    create_job(aws.dynamodb, "test-portal", job)
    return job


def _store_frame(aws: AwsClients, clip: str, frame_no: int, seed: int = 11) -> None:
    image = render(sample_scene(seed, width=640, height=480)).image
    aws.s3.put_object(Bucket="test-data", Key=f"frames/{clip}/{frame_no:06d}.jpg",
                      Body=cv2.imencode(".jpg", image)[1].tobytes())  # fmt: skip


SEATS = {"seat": ["driver", "front-passenger"], "glasses": ["no", "yes"]}
"""Track attributes of a rig, said once per person of a clip."""


def _send(aws: AwsClients, job: PortalJob, predictions: FramePredictions, clip: str,
          level1: dict[str, Any] | None = None) -> None:  # fmt: skip
    """The frame stored and its object sent to the job, pre-annotated by the model, as gt-bridge sends it."""
    _store_frame(aws, clip, predictions.frame.frame_no)
    key = f"obj#{clip}-{predictions.frame.frame_no}-{job.name}"
    context = {"clip_id": clip, "skeleton": [[RIG[0], RIG[1]]], "keypoint_names": list(RIG),
               "track_attributes": SEATS, **predictions.frame.model_dump(mode="json")}  # fmt: skip
    line = input_line(source_ref=predictions.frame.uri, object_key=key, generation=0, frame=context,
                      prefill=prefill(predictions, 0.0), level1_labels=level1)  # fmt: skip
    aws.sns.publish(TopicArn=job.input_topic_arn, Message=json.dumps(line))


def _tracked(predictions: FramePredictions, track: int) -> FramePredictions:
    return predictions.model_copy(update={"persons": [predictions.persons[0].model_copy(update={"track_id": track})]})


@pytest.fixture
def serve() -> Iterator[Callable[[Portal], str]]:
    """The portal's page served for ``portal``: its base URL."""
    servers: list[Any] = []

    def start(portal: Portal) -> str:
        port = free_port()
        server = serve_web(portal, "127.0.0.1", port)
        servers.append(server)
        eventually(lambda: server.started, timeout_s=20)
        return f"http://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.should_exit = True


@pytest.fixture
def open_task(aws: AwsClients, stack: ProvisionedStack, serve: Callable[[Portal], str]) -> Callable[..., PageTask]:
    """A job of ``modality`` and ``level`` with one open task, pre-annotated by the model (at level 2 also
    carrying a level-1 answer), and the portal's page serving it."""

    def make(modality: str = "keypoints", level: int = 1) -> PageTask:
        clock = ManualClock()
        job = _new_job(aws, clock, modality, level)
        portal = Portal(aws, StackNames("test"), clock, annotator=None)
        portal.tick()
        predictions = _tracked(frame(1, clip="page"), 7)  # its person is track 7 of the clip
        model = prefill(predictions, clock.now())
        level1 = {modality: {**model[modality]}, f"{modality}-metadata": {"human-annotated": "yes"}}
        if modality == "keypoints" and level == 2:  # the level-1 person moved the nose 20 px right
            points = [dict(p) for p in model["keypoints"]["crowdKeypoint"]["keypoints"]]
            points[0]["x"] += 20
            level1["keypoints"] = {"crowdKeypoint": {**model["keypoints"]["crowdKeypoint"], "keypoints": points}}
        _send(aws, job, predictions, "page", label_of(level1, modality) if level == 2 else None)
        portal.tick()
        [task] = portal.open_tasks(job.name)
        return portal, job, f"{serve(portal)}/tasks/{job.name}/{task.object_id}"

    return make


def _answer(aws: AwsClients, job: PortalJob, object_id: int | None = None) -> dict[str, Any]:
    prefix = f"labeling/{job.name}/annotations/consolidated-annotation/output/"
    [output] = aws.s3.list_objects_v2(Bucket="test-data", Prefix=prefix + (f"{object_id}/" if object_id is not None
                                                                           else ""))["Contents"]  # fmt: skip
    return json.loads(aws.s3.get_object(Bucket="test-data", Key=output["Key"])["Body"].read())  # type: ignore[no-any-return]


def _in_chromium(url: str, steps: Callable[[Any, dict[str, float]], None], screenshot: Path) -> None:
    """Open ``url``, run ``steps(page, canvas box)``, submit with Enter and wait until it was accepted."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url)
            page.wait_for_selector("#canvas[data-ready='1']")
            box = page.locator("#canvas").bounding_box()
            assert box is not None
            steps(page, box)
            page.screenshot(path=str(screenshot))
            page.keyboard.press("Enter")
            page.wait_for_selector("text=Submitted")
        finally:
            browser.close()


def _drag(page: Any, box: dict[str, float], start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + (start[0] + end[0]) / 2, box["y"] + (start[1] + end[1]) / 2, steps=5)
    page.mouse.move(box["x"] + end[0], box["y"] + end[1], steps=5)
    page.mouse.up()


def _click(page: Any, box: dict[str, float], x: float, y: float) -> None:
    page.mouse.click(box["x"] + x, box["y"] + y)


def _points(line: dict[str, Any], attribute: str = "keypoints") -> dict[tuple[int, str], dict[str, Any]]:
    return {(p["person"], p["label"]): p for p in line[attribute]["crowdKeypoint"]["keypoints"]}


chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)"
)


@chromium
def test_a_person_moves_a_keypoint_marks_one_occluded_and_submits(
    aws: AwsClients, open_task: Callable[..., PageTask], tmp_path: Path
) -> None:
    """Zoom in on the nose with the wheel, drag it, mark the left eye occluded in the table, submit: the output
    line in S3 has those values (in the image's pixels, whatever the zoom), and the rig's bones are drawn."""
    portal, job, url = open_task()

    def steps(page: Any, box: dict[str, float]) -> None:
        # The task's skeleton joins points 0 and 1, (200, 150) and (230, 170): a bone crosses (215, 160).
        pixel = "Array.from(document.getElementById('canvas').getContext('2d').getImageData(215, 160, 1, 1).data)"
        with_bone = page.evaluate(pixel)
        page.evaluate("task.skeleton = []; draw();")
        assert page.evaluate(pixel) != with_bone
        page.evaluate(f"task.skeleton = [['{RIG[0]}', '{RIG[1]}']]; draw();")
        # The model put the nose at (200, 150); the page shows it 1:1. Two wheel steps zoom 1.25 x 1.25 about
        # the cursor, so the nose stays under it and a 50 px drag is 32 px of the image.
        page.mouse.move(box["x"] + 200, box["y"] + 150)
        page.mouse.wheel(0, -100)
        page.mouse.wheel(0, -100)
        page.wait_for_function("zoom > 1.5")
        _drag(page, box, (200, 150), (250, 120))
        page.select_option("select[name='visibility-left_eye-0']", "occluded")
        assert "track 7" in page.inner_text("#persons")

    _in_chromium(url, steps, tmp_path / "task.png")
    assert portal.open_tasks(job.name) == []
    line = _answer(aws, job)
    points = _points(line)
    assert (points[0, "nose"]["x"], points[0, "nose"]["y"]) == pytest.approx(
        (200 + 50 / 1.5625, 150 - 30 / 1.5625), abs=1
    )
    assert points[0, "left_eye"]["visibility"] == "occluded"
    assert points[0, "right_eye"]["visibility"] == "visible"
    assert (points[0, "right_eye"]["x"], points[0, "right_eye"]["y"]) == (260.0, 190.0)  # untouched: 200+30*2, 150+20*2
    metadata = line["keypoints-metadata"]
    assert metadata["human-annotated"] == "yes"
    assert metadata["persons"][0]["track-id"] == 7, "the person keeps the model's track"
    assert metadata["effort"]["points-moved"] == 1
    assert metadata["effort"]["seconds"] > 0
    response = json.loads(aws.s3.get_object(Bucket="test-data", Key=_output_key(aws, job).replace(
        "consolidated-annotation/output", "worker-response/iteration-1"))["Body"].read())  # fmt: skip
    assert response["answers"][0]["workerId"] == "web"


def _output_key(aws: AwsClients, job: PortalJob) -> str:
    prefix = f"labeling/{job.name}/annotations/consolidated-annotation/"
    return str(aws.s3.list_objects_v2(Bucket="test-data", Prefix=prefix)["Contents"][0]["Key"])


@chromium
def test_a_person_adds_a_missed_person_deletes_one_undoes_and_sets_visibility_by_key(
    aws: AwsClients, open_task: Callable[..., PageTask], tmp_path: Path
) -> None:
    """``a``: two corners, then the rig's points in order (``x`` skips one outside, Esc ends); Tab to the model's
    person, Del deletes it, ``z`` brings it back; ``n`` to the left eye, ``o`` occludes it, ``z`` and
    ``Shift+z`` undo and redo that; Enter submits. The answer holds both persons, their boxes and the effort."""
    portal, job, url = open_task()

    def steps(page: Any, box: dict[str, float]) -> None:
        page.keyboard.press("a")
        _click(page, box, 460, 100)
        _click(page, box, 620, 400)  # the box's opposite corner
        assert "nose" in page.inner_text("#prompt")
        _click(page, box, 540, 130)  # nose
        page.keyboard.press("x")  # left eye: outside the picture
        _click(page, box, 525, 125)  # right eye
        page.keyboard.press("Escape")
        assert page.get_attribute("#canvas", "data-persons") == "2"
        page.keyboard.press("Tab")  # the model's person
        page.keyboard.press("Delete")
        assert page.get_attribute("#canvas", "data-persons") == "1"
        page.keyboard.press("z")
        assert page.get_attribute("#canvas", "data-persons") == "2"
        page.keyboard.press("n")  # point 2 of the rig: left_eye
        page.keyboard.press("o")
        assert page.input_value("select[name='visibility-left_eye-0']") == "occluded"
        page.keyboard.press("z")
        assert page.input_value("select[name='visibility-left_eye-0']") == "visible"
        page.keyboard.press("Shift+Z")
        assert page.input_value("select[name='visibility-left_eye-0']") == "occluded"
        assert "2/5 points" in page.inner_text("#persons")

    _in_chromium(url, steps, tmp_path / "added.png")
    line = _answer(aws, job)
    points = _points(line)
    assert {label for person, label in points if person == 0} == set(RIG)
    assert points[0, "left_eye"]["visibility"] == "occluded"
    assert {label for person, label in points if person == 1} == {"nose", "right_eye"}  # left eye: outside, absent
    assert (points[1, "nose"]["x"], points[1, "nose"]["y"]) == pytest.approx((540, 130), abs=1.5)
    persons = line["keypoints-metadata"]["persons"]
    assert persons[0]["box"] == {"left": 180, "top": 60, "width": 260, "height": 400}  # the model's, kept
    assert persons[1]["box"] == {"left": 460, "top": 100, "width": 160, "height": 300}
    assert (persons[0].get("track-id"), persons[1].get("track-id")) == (7, None)  # one added by hand has no track
    effort = line["keypoints-metadata"]["effort"]
    assert (effort["persons-added"], effort["persons-deleted"]) == (1, 1)
    assert effort["visibility-changes"] >= 1
    assert portal.open_tasks(job.name) == []


@chromium
def test_a_head_task_edits_head_boxes_with_no_keypoint_table(
    aws: AwsClients, open_task: Callable[..., PageTask], tmp_path: Path
) -> None:
    """The head task lists heads, shows no keypoint table; a head's box is resized by its corner handle and a
    missed head is added by two corners."""
    _, job, url = open_task("head")

    def steps(page: Any, box: dict[str, float]) -> None:
        assert page.inner_text("#points") == ""
        assert page.evaluate("Object.keys(task.context[0].points).length") == len(RIG)  # the skeleton beside the head
        assert "head 1" in page.inner_text("#persons")
        _drag(page, box, (360, 150), (380, 170))  # the model's head box (300, 80, 60, 70): its bottom-right corner
        page.keyboard.press("a")
        _click(page, box, 500, 50)
        _click(page, box, 540, 100)

    _in_chromium(url, steps, tmp_path / "heads.png")
    boxes = _answer(aws, job)["head"]["annotations"]
    assert [(b["left"], b["top"], b["width"], b["height"]) for b in boxes] == [(300, 80, 80, 90), (500, 50, 40, 50)]


@chromium
def test_a_level_two_page_shows_the_model_apart_and_records_what_the_adjuster_changed(
    aws: AwsClients, open_task: Callable[..., PageTask], tmp_path: Path
) -> None:
    """At level 2 the page starts from the level-1 answer (nose 20 px right of the model's) with the model's
    guess drawn hollow apart; moving the right eye is recorded as the one changed point."""
    _, job, url = open_task("keypoints", level=2)

    def steps(page: Any, box: dict[str, float]) -> None:
        assert page.evaluate("task.model[0].points.nose.x") == 200
        assert page.evaluate("persons[0].points.nose.x") == 220
        assert page.evaluate("task.context[0].box.left") == 300  # the model's head box, beside the skeleton
        _drag(page, box, (260, 190), (270, 200))

    _in_chromium(url, steps, tmp_path / "level2.png")
    line = _answer(aws, job)
    metadata = line["keypoints-adjusted-metadata"]
    assert metadata["adjusted-points"] == ["0/right_eye"]
    assert metadata["adjustment-status"] == "adjusted"
    assert _points(line, "keypoints-adjusted")[0, "nose"]["x"] == 220


TRUTH_OFFSET = (-20.0, 25.0)
"""Where the person really is: every point of the model's skeleton off by this, relative to its box."""


def _truth(predictions: FramePredictions) -> dict[str, tuple[float, float]]:
    dx, dy = TRUTH_OFFSET
    return {k.name: (k.x + dx, k.y + dy) for k in predictions.persons[0].keypoints}


def _off(points: dict[str, dict[str, float]], truth: dict[str, tuple[float, float]]) -> list[str]:
    return [label for label, (x, y) in truth.items() if abs(points[label]["x"] - x) + abs(points[label]["y"] - y) > 2]


def _put_right(page: Any, box: dict[str, float], truth: dict[str, tuple[float, float]]) -> int:
    """What a careful person does: drag every point that is not where the person is. How many."""
    wrong = _off(page.evaluate("persons[0].points"), truth)
    for label in wrong:
        point = page.evaluate(f"persons[0].points['{label}']")
        _drag(page, box, (point["x"], point["y"]), truth[label])
    assert not _off(page.evaluate("persons[0].points"), truth)
    return len(wrong)


@chromium
def test_a_person_corrected_in_one_frame_starts_corrected_in_the_next_frame_of_their_track(
    aws: AwsClients, stack: ProvisionedStack, serve: Callable[[Portal], str], tmp_path: Path
) -> None:
    """The model misplaces track 7's skeleton the same way in frames 1 and 2 while the person walks 12 px
    right. Frame 1 (the page shows frame 0 before it): every point is dragged, and the person's seat is
    said. Frame 2 starts from that correction carried by the model's motion (no point to drag, where the
    model's guess needs all of them) and with the seat said for the track."""
    clock = ManualClock()
    job = _new_job(aws, clock)
    portal = Portal(aws, StackNames("test"), clock, annotator=None)
    portal.tick()
    _store_frame(aws, "walk", 0)
    frames = [_tracked(frame(1, clip="walk"), 7), _tracked(frame(2, clip="walk", shift=12), 7)]
    for predictions in frames:
        _send(aws, job, predictions, "walk")
    portal.tick()
    first, second = portal.open_tasks(job.name)
    base = serve(portal)
    moved: list[int] = []

    def correct(predictions: FramePredictions, caption: str, listed: str) -> Callable[[Any, dict[str, float]], None]:
        def steps(page: Any, box: dict[str, float]) -> None:
            page.wait_for_selector("#previous-canvas[data-ready='1']")
            assert caption in page.inner_text("#previous figcaption")
            assert listed in page.inner_text("#persons")
            moved.append(_put_right(page, box, _truth(predictions)))
            if predictions is frames[0]:
                assert page.input_value("select[name='attribute-seat-0']") == ""
                page.select_option("select[name='attribute-seat-0']", "driver")
            else:  # said once for the track
                assert page.input_value("select[name='attribute-seat-0']") == "driver"
                assert "earlier frame of this track" in page.inner_text("#attributes")

        return steps

    pages = [f"{base}/tasks/{job.name}/{task.object_id}" for task in (first, second)]
    _in_chromium(pages[0], correct(frames[0], "frame 0, the one before", "(track 7)"), tmp_path / "frame1.png")
    started = httpx.get(pages[1].replace("/tasks/", "/api/tasks/")).json()
    model_guess = {p["label"]: p for p in started["model"][0]["points"]}
    without = len(_off(model_guess, _truth(frames[1])))
    _in_chromium(pages[1], correct(frames[1], "frame 1, as people corrected", "from frame 1"), tmp_path / "frame2.png")
    assert moved == [len(RIG), 0]
    assert without == len(RIG), "the model's own guess for frame 2 needs every point moved"
    answer = _answer(aws, job, second.object_id)
    assert answer["keypoints-metadata"]["effort"]["points-moved"] == 0
    assert answer["keypoints-metadata"]["persons"][0]["track-id"] == 7
    assert answer["keypoints-metadata"]["persons"][0]["attributes"] == {"seat": "driver"}
    for point in answer["keypoints"]["crowdKeypoint"]["keypoints"]:
        assert (point["x"], point["y"]) == pytest.approx(_truth(frames[1])[point["label"]], abs=1)
    assert _answer(aws, job, first.object_id)["keypoints-metadata"]["effort"]["points-moved"] == len(RIG)


def test_an_answer_with_a_track_attribute_the_rig_does_not_declare_is_refused(
    open_task: Callable[..., PageTask],
) -> None:
    portal, job, url = open_task()
    answer = {"keypoints": [], "person_boxes": [None], "person_tracks": [7],
              "person_attributes": [{"seat": "roof"}]}  # fmt: skip
    response = httpx.post(url.replace("/tasks/", "/api/tasks/"), json=answer)
    assert response.status_code == 422
    assert "seat=roof" in response.text
    assert len(portal.open_tasks(job.name)) == 1  # still open: nothing was answered


def _throttle(aws: AwsClients, operation: str, when: Callable[[dict[str, Any]], bool]) -> Callable[..., None]:
    """A DynamoDB throttle, botocore's retries spent, for every ``operation`` call whose parameters match."""

    def hook(params: dict[str, Any], **_: Any) -> None:
        if when(params):
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "test"}},
                              operation)  # fmt: skip

    aws.dynamodb.meta.events.register(f"provide-client-params.dynamodb.{operation}", hook)
    return hook


def test_a_throttled_correction_costs_only_the_head_start_never_the_label_or_the_page(
    aws: AwsClients, stack: ProvisionedStack, serve: Callable[[Portal], str]
) -> None:
    """The correction's write throttled: the answer is delivered all the same (its label in S3, the task
    done), the next frame starts from the model. The corrections' read throttled: the page still opens."""
    clock = ManualClock()
    job = _new_job(aws, clock)
    portal = Portal(aws, StackNames("test"), clock, annotator=None)
    portal.tick()
    frames = [_tracked(frame(1, clip="busy"), 7), _tracked(frame(2, clip="busy", shift=12), 7)]
    for predictions in frames:
        _send(aws, job, predictions, "busy")
    portal.tick()
    first, second = portal.open_tasks(job.name)
    pages = [f"{serve(portal)}/api/tasks/{job.name}/{task.object_id}" for task in (first, second)]
    answer = {"keypoints": [{"label": RIG[0], "x": 10, "y": 10, "visibility": "visible", "person": 0}],
              "person_boxes": [None], "person_tracks": [7]}  # fmt: skip
    writes = _throttle(aws, "PutItem", lambda params: params["Item"]["pk"]["S"].startswith("correction#"))
    try:
        assert httpx.post(pages[0], json=answer).status_code == 200
    finally:
        aws.dynamodb.meta.events.unregister("provide-client-params.dynamodb.PutItem", writes)
    assert portal.task(job.name, first.object_id).status == "done"  # type: ignore[union-attr]
    assert _answer(aws, job, first.object_id)["keypoints"]["crowdKeypoint"]["keypoints"][0]["x"] == 10
    started = httpx.get(pages[1]).json()
    assert "from_frame" not in started["persons"][0]  # no correction kept: the model's guess
    reads = _throttle(aws, "BatchGetItem", lambda _: True)
    try:
        shown = httpx.get(pages[1])
    finally:
        aws.dynamodb.meta.events.unregister("provide-client-params.dynamodb.BatchGetItem", reads)
    assert shown.status_code == 200
    assert shown.json()["persons"] == started["persons"]
