"""The portal's web page in headless Chromium (Debian's, driven by Playwright): a person adjusts a
pre-annotated skeleton and the answer lands in Ground Truth's S3 layout."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from labelloop import AwsClients, StackNames
from labelloop.clock import ManualClock
from labelloop.groundtruth import input_line
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


@pytest.fixture
def page_task(aws: AwsClients, stack: ProvisionedStack) -> Iterator[tuple[Portal, PortalJob, str]]:
    """A keypoint job with one open task pre-annotated by the model, and the portal's page serving it."""
    topics = [aws.sns.create_topic(Name=f"test-page-{side}")["TopicArn"] for side in ("input", "output")]
    clock = ManualClock()
    job = PortalJob(name="test-keypoints-l1-1", modality="keypoints", level=1, label_attribute="keypoints",
                    input_topic_arn=topics[0], output_topic_arn=topics[1], output_s3_uri="s3://test-data/labeling",
                    task_lifetime_s=86400, task_time_limit_s=3600, max_concurrent_tasks=10,
                    created_at=clock.now(), last_activity_at=clock.now())  # fmt: skip
    create_job(aws.dynamodb, "test-portal", job)
    portal = Portal(aws, StackNames("test"), clock, annotator=None)
    portal.tick()
    predictions = frame(1, clip="page")
    image = render(sample_scene(11, width=640, height=480)).image
    aws.s3.put_object(Bucket="test-data", Key="frames/page/000001.jpg", Body=cv2.imencode(".jpg", image)[1].tobytes())
    line = input_line(source_ref=predictions.frame.uri, object_key="obj#page-1", generation=0,
                      frame={"clip_id": "page", "skeleton": [[RIG[0], RIG[1]]],
                             **predictions.frame.model_dump(mode="json")},
                      prefill=prefill(predictions, "keypoints", clock.now()))  # fmt: skip
    aws.sns.publish(TopicArn=topics[0], Message=json.dumps(line))
    portal.tick()
    [task] = portal.open_tasks(job.name)
    port = free_port()
    server = serve_web(portal, "127.0.0.1", port)
    eventually(lambda: server.started, timeout_s=20)
    yield portal, job, f"http://127.0.0.1:{port}/tasks/{job.name}/{task.object_id}"
    server.should_exit = True


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)")
def test_a_person_moves_a_keypoint_marks_one_occluded_and_submits(
    aws: AwsClients, page_task: tuple[Portal, PortalJob, str], tmp_path: Path
) -> None:
    """Load the task, drag the nose, mark the left eye occluded, submit: the output line in S3 has those values."""
    from playwright.sync_api import sync_playwright

    portal, job, url = page_task
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url)
            page.wait_for_selector("canvas[data-ready='1']")
            # The task's skeleton joins points 0 and 1, (200, 150) and (230, 170): a bone crosses (215, 160).
            pixel = "Array.from(document.getElementById('canvas').getContext('2d').getImageData(215, 160, 1, 1).data)"
            with_bone = page.evaluate(pixel)
            page.evaluate("task.skeleton = []; draw();")
            assert page.evaluate(pixel) != with_bone
            page.evaluate("task.skeleton = [[points[0].label, points[1].label]]; draw();")
            box = page.locator("canvas").bounding_box()
            assert box is not None
            # The model put the nose at (200, 150) of the 640x480 frame; the page shows it 1:1.
            page.mouse.move(box["x"] + 200, box["y"] + 150)
            page.mouse.down()
            page.mouse.move(box["x"] + 225, box["y"] + 135, steps=5)
            page.mouse.move(box["x"] + 250, box["y"] + 120, steps=5)
            page.mouse.up()
            page.select_option("select[name='visibility-left_eye-0']", "occluded")
            page.screenshot(path=str(tmp_path / "task.png"))
            page.click("#submit")
            page.wait_for_selector("text=Submitted")
        finally:
            browser.close()
    assert portal.open_tasks(job.name) == []
    [output] = aws.s3.list_objects_v2(
        Bucket="test-data", Prefix=f"labeling/{job.name}/annotations/consolidated-annotation/"
    )["Contents"]
    line = json.loads(aws.s3.get_object(Bucket="test-data", Key=output["Key"])["Body"].read())
    points = {p["label"]: p for p in line["keypoints"]["crowdKeypoint"]["keypoints"]}
    assert (points["nose"]["x"], points["nose"]["y"]) == pytest.approx((250, 120), abs=1.5)
    assert points["left_eye"]["visibility"] == "occluded"
    assert points["right_eye"]["visibility"] == "visible"
    assert (points["right_eye"]["x"], points["right_eye"]["y"]) == (260.0, 190.0)  # untouched: 200+30*2, 150+20*2
    assert line["keypoints-metadata"]["human-annotated"] == "yes"
    response = json.loads(aws.s3.get_object(Bucket="test-data", Key=output["Key"].replace(
        "consolidated-annotation/output", "worker-response/iteration-1"))["Body"].read())  # fmt: skip
    assert response["answers"][0]["workerId"] == "web"
