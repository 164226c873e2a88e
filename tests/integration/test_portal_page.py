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
import pytest
from labelloop import AwsClients, StackNames
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


@pytest.fixture
def open_task(aws: AwsClients, stack: ProvisionedStack) -> Iterator[Callable[..., PageTask]]:
    """A job of ``modality`` and ``level`` with one open task, pre-annotated by the model (at level 2 also
    carrying a level-1 answer), and the portal's page serving it."""
    servers: list[Any] = []

    def make(modality: str = "keypoints", level: int = 1) -> PageTask:
        name = f"test-{modality}-l{level}-{uuid.uuid4().hex[:8]}"  # the stack outlives a test: a job of its own
        topics = [aws.sns.create_topic(Name=f"{name}-{side}")["TopicArn"] for side in ("input", "output")]
        clock = ManualClock()
        job = PortalJob(name=name, modality=modality, level=level,  # type: ignore[arg-type]
                        label_attribute=modality if level == 1 else f"{modality}-adjusted",
                        input_topic_arn=topics[0], output_topic_arn=topics[1], output_s3_uri="s3://test-data/labeling",
                        task_lifetime_s=86400, task_time_limit_s=3600, max_concurrent_tasks=10,
                        created_at=clock.now(), last_activity_at=clock.now())  # fmt: skip
        create_job(aws.dynamodb, "test-portal", job)
        portal = Portal(aws, StackNames("test"), clock, annotator=None)
        portal.tick()
        predictions = frame(1, clip="page")  # its person is track 7 of the clip
        predictions = predictions.model_copy(update={"persons": [predictions.persons[0].model_copy(
            update={"track_id": 7})]})  # fmt: skip
        image = render(sample_scene(11, width=640, height=480)).image
        aws.s3.put_object(Bucket="test-data", Key="frames/page/000001.jpg",
                          Body=cv2.imencode(".jpg", image)[1].tobytes())  # fmt: skip
        model = prefill(predictions, clock.now())
        level1 = {modality: {**model[modality]}, f"{modality}-metadata": {"human-annotated": "yes"}}
        if modality == "keypoints" and level == 2:  # the level-1 person moved the nose 20 px right
            points = [dict(p) for p in model["keypoints"]["crowdKeypoint"]["keypoints"]]
            points[0]["x"] += 20
            level1["keypoints"] = {"crowdKeypoint": {**model["keypoints"]["crowdKeypoint"], "keypoints": points}}
        line = input_line(source_ref=predictions.frame.uri, object_key=f"obj#page-{name}", generation=0,
                          frame={"clip_id": "page", "skeleton": [[RIG[0], RIG[1]]], "keypoint_names": list(RIG),
                                 **predictions.frame.model_dump(mode="json")},
                          prefill=model, level1_labels=label_of(level1, modality) if level == 2 else None)  # fmt: skip
        aws.sns.publish(TopicArn=topics[0], Message=json.dumps(line))
        portal.tick()
        [task] = portal.open_tasks(job.name)
        port = free_port()
        server = serve_web(portal, "127.0.0.1", port)
        servers.append(server)
        eventually(lambda: server.started, timeout_s=20)
        return portal, job, f"http://127.0.0.1:{port}/tasks/{job.name}/{task.object_id}"

    yield make
    for server in servers:
        server.should_exit = True


def _answer(aws: AwsClients, job: PortalJob) -> dict[str, Any]:
    [output] = aws.s3.list_objects_v2(
        Bucket="test-data", Prefix=f"labeling/{job.name}/annotations/consolidated-annotation/"
    )["Contents"]
    return json.loads(aws.s3.get_object(Bucket="test-data", Key=output["Key"])["Body"].read())  # type: ignore[no-any-return]


def _in_chromium(url: str, steps: Callable[[Any, dict[str, float]], None], screenshot: Path) -> None:
    """Open ``url``, run ``steps(page, canvas box)``, submit with Enter and wait until it was accepted."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url)
            page.wait_for_selector("canvas[data-ready='1']")
            box = page.locator("canvas").bounding_box()
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
        assert page.get_attribute("canvas", "data-persons") == "2"
        page.keyboard.press("Tab")  # the model's person
        page.keyboard.press("Delete")
        assert page.get_attribute("canvas", "data-persons") == "1"
        page.keyboard.press("z")
        assert page.get_attribute("canvas", "data-persons") == "2"
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
