"""Label Studio as the labeling backend, for real: ``label-studio==1.23.2`` from its own virtualenv on
127.0.0.1 (SQLite, a generated token), gt-bridge as a real worker on moto, the portal keeping one Label
Studio project per job; answers are made through Label Studio's REST API as a person's browser makes them.
"""

from __future__ import annotations

import copy
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from labelloop import AwsClients, EventPublisher, ExitCode, StackNames
from labelloop.groundtruth import DEDUP_ATTRIBUTE
from labelloop.provision import ProvisionedStack
from labelloop_gt_bridge import handlers
from labelloop_portal import label_studio_setup
from labelloop_portal.entrypoint import serve_web
from labelloop_portal.frame_links import FrameLinks, link_key
from labelloop_portal.label_studio import LabelStudioFront
from labelloop_portal.label_studio_api import LabelStudioClient, LabelStudioUnavailableError
from labelloop_portal.label_studio_regions import labeling_config
from labelloop_portal.label_studio_setup import create_personal_access_token
from labelloop_portal.tasks import TaskStore
from labelloop_tools.cli import app
from labelloop_tools.local import free_port
from labelloop_tools.local.label_studio import LabelStudioServer, missing_reason
from typer.testing import CliRunner

from tests.helpers import eventually, labelloop_cli, labelloop_up
from tests.labeling import Loop, labeling_loop, review
from tests.media import image

pytestmark = pytest.mark.integration
DAY = 24 * 3600.0
SECRET = "webhook-secret-for-tests"


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    if reason := missing_reason():
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("label-studio")
    with LabelStudioServer(folder / "data", log_path=folder / "label-studio.log") as server:
        yield server


def _client(server: LabelStudioServer, token: str | None = None) -> LabelStudioClient:
    return LabelStudioClient(server.url, token or server.login.token)


def _as_a_person(server: LabelStudioServer, method: str, path: str, body: object = None) -> Any:
    """What Label Studio's page sends when a person submits, skips or deletes (the same REST API)."""
    request = urllib.request.Request(  # noqa: S310 (the test's own loopback server)
        server.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Token {server.login.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        text = response.read()
    return json.loads(text) if text else None


def _submit(server: LabelStudioServer, task_id: int, result: list[dict[str, Any]], *, skip: bool = False) -> None:
    body = {"result": result, "was_cancelled": skip, "lead_time": 42.5}
    _as_a_person(server, "POST", f"/api/tasks/{task_id}/annotations", body)


def _tasks_by_frame(client: LabelStudioClient, project: int | None) -> dict[int, dict[str, Any]]:
    assert project is not None, "the job has no Label Studio project"
    return {int(t["data"]["source_ref"].rsplit("/", 1)[1].split(".")[0]): t for t in client.tasks(project)}


def _region(result: list[dict[str, Any]], kind: str, label: str) -> dict[str, Any]:
    return next(r for r in result if r["type"] == kind and r["id"].endswith(f"-{label}"))


def _human_points(aws: AwsClients, frame_no: int, level: int = 1) -> list[dict[str, Any]]:
    key = f"dataset/human/clip-1/{frame_no:06d}-keypoints-l{level}.json"
    line = json.loads(aws.s3.get_object(Bucket="test-data", Key=key)["Body"].read())
    attribute = "keypoints" if level == 1 else "keypoints-adjusted"
    return list(line[attribute]["crowdKeypoint"]["keypoints"])


def _front(server: LabelStudioServer, portal_url: str = "http://127.0.0.1:9", **options: Any) -> LabelStudioFront:
    """The portal's side; frame links point at ``portal_url`` (a test that loads no frame serves none)."""
    return LabelStudioFront(_client(server), FrameLinks(portal_url, link_key(server.login.token, SECRET)),
                            **({"poll_s": 0.01} | options))  # fmt: skip


def _publish(aws: AwsClients, *frames: int) -> None:
    publisher = EventPublisher.for_stack(aws, StackNames("test"))
    for frame_no in frames:
        publisher.publish(review(frame_no))


def _tick_until(loop: Loop, check: Any, timeout_s: float = 60) -> Any:
    def ticked() -> Any:
        loop.portal.tick()
        return check()

    return eventually(ticked, timeout_s=timeout_s, interval_s=0.3)


def _the_page_loads_the_frame_by_its_signed_link(link: str, jpeg: bytes, port: int) -> None:
    """What a labeller's browser does with the task's image URL: the portal serves the frame (another origin
    may read it); a link whose signature or expiry was changed gets 403."""
    assert link.startswith(f"http://127.0.0.1:{port}/label-studio/frames/"), link
    with urllib.request.urlopen(link, timeout=30) as response:  # noqa: S310 (the test's own portal)
        assert response.read() == jpeg
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    for forged in (link[:-1] + ("0" if link[-1] != "0" else "1"), link.replace("expires=", "expires=9")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=30)  # noqa: S310
        assert refused.value.code == 403


def test_ten_frames_go_to_label_studio_pre_annotated_and_come_back_by_webhook_with_visibility_intact(
    aws: AwsClients, stack: ProvisionedStack, label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    """10 frames → 10 Label Studio tasks pre-annotated with the model's points (its versions and score),
    the frame shown by a signed link to the portal; 9 answered as a person would (3 with a point moved, 3
    with a visibility changed), each closed by the webhook → dataset/human/ has them as answered; the
    10th, left alone, expires, leaves Label Studio, and comes back under a new dedup id."""
    client, port = _client(label_studio), free_port()
    front = _front(label_studio, f"http://127.0.0.1:{port}", poll_s=3600.0, webhook_secret=SECRET,
                   webhook_url=f"http://127.0.0.1:{port}/label-studio/webhook")  # fmt: skip
    with labeling_loop(aws, stack, modalities=("keypoints",), backend="label-studio", task_lifetime_s=int(2 * DAY),
                       label_studio=front) as loop:  # fmt: skip
        # With the portal's own sign-in on: Label Studio's webhook and frames must not need it.
        web = serve_web(loop.portal, "127.0.0.1", port, access_token="people-only", webhook_secret=SECRET)
        try:
            jpeg = image(tmp_path / "frame.jpg").read_bytes()
            aws.s3.put_object(Bucket="test-data", Key="frames/clip-1/000001.jpg", Body=jpeg)
            _publish(aws, *range(1, 11))
            loop.settle(10)
            job = loop.job("keypoints-l1")
            tasks = _tick_until(loop, lambda: len(found := _tasks_by_frame(client, job.label_studio_project)) == 10
                                and found)  # fmt: skip
            project = client.project(int(job.label_studio_project))
            assert "KeyPointLabels" in project["label_config"]
            assert "perRegion" in project["label_config"]
            for task in tasks.values():
                [prediction] = task["predictions"]
                assert prediction["model_version"] == "head:1,pose_main:1,pose_visible:1"
                assert prediction["score"] == pytest.approx(0.3)
                assert sum(r["type"] == "keypointlabels" for r in prediction["result"]) == 5
            _the_page_loads_the_frame_by_its_signed_link(tasks[1]["data"]["image"], jpeg, port)
            expected: dict[int, dict[str, tuple[float, float, str]]] = {}
            for frame_no in range(1, 10):
                result = copy.deepcopy(tasks[frame_no]["predictions"][0]["result"])
                if frame_no <= 3:  # a point dragged 5% of the width to the right
                    _region(result, "keypointlabels", "nose")["value"]["x"] += 5.0
                elif frame_no <= 6:  # a point marked the other way
                    choice = _region(result, "choices", "left_eye")["value"]
                    choice["choices"] = ["visible" if choice["choices"] == ["occluded"] else "occluded"]
                expected[frame_no] = {
                    r["value"]["keypointlabels"][0]: (r["value"]["x"] * 6.4, r["value"]["y"] * 4.8,
                                                      _region(result, "choices", r["id"].split("-", 1)[1])
                                                      ["value"]["choices"][0])
                    for r in result if r["type"] == "keypointlabels"
                }  # fmt: skip
                _submit(label_studio, tasks[frame_no]["id"], result)
            eventually(lambda: loop.portal.counts["answered"] == 9, timeout_s=60)  # the webhook; no poll is due
            loop.settle(19)
            for frame_no, points in expected.items():
                got = {p["label"]: (p["x"], p["y"], p["visibility"]) for p in _human_points(aws, frame_no)}
                assert got.keys() == points.keys(), frame_no
                for name, (x, y, visibility) in points.items():
                    assert got[name][0] == pytest.approx(x, abs=0.02)
                    assert got[name][1] == pytest.approx(y, abs=0.02)
                    assert got[name][2] == visibility, (frame_no, name)
            [left_alone] = loop.portal.open_tasks(job.name)
            loop.clock.advance(2 * DAY + 1)
            loop.portal.tick()  # expires it: out of Label Studio, and gt-bridge sends it again
            loop.settle(20)
            # Label Studio on SQLite may give the new task the deleted one's id: the object is what differs.
            again = _tick_until(loop, lambda: [t for t in client.tasks(job.label_studio_project)
                                               if t["data"]["source_ref"].endswith("/000010.jpg")
                                               and t["data"]["labelloop_object"] != left_alone.object_id])  # fmt: skip
            assert len(again) == 1
            assert len(client.tasks(job.label_studio_project)) == 10, "the expired task stayed in Label Studio"
            [reshown] = loop.portal.open_tasks(job.name)
            assert reshown.external_id == again[0]["id"]
            assert reshown.line[DEDUP_ATTRIBUTE] != left_alone.line[DEDUP_ATTRIBUTE]
        finally:
            web.should_exit = True
    assert loop.portal.counts["expired"] == 1


def test_without_a_webhook_the_poll_collects_answers_skips_nothing_and_a_deleted_task_expires_into_a_resend(
    aws: AwsClients, stack: ProvisionedStack, label_studio: LabelStudioServer
) -> None:
    """Polling only: an answer is collected; a skipped task stays open; a task deleted in Label Studio
    counts as expired and comes back under a new dedup id; level 2 starts from the level-1 answer; the
    portal moving to another URL re-links the open tasks' frames. The webhook Label Studio refuses (not a
    URL it takes) leaves the project standing, and the poll does the work."""
    client = _client(label_studio)
    front = _front(label_studio, webhook_url="not a url", webhook_secret=SECRET)
    earlier = {p["id"] for p in _as_a_person(label_studio, "GET", "/api/projects?page_size=1000")["results"]}
    with labeling_loop(aws, stack, modalities=("keypoints",), level2=("keypoints",), backend="label-studio",
                       label_studio=front) as loop:  # fmt: skip
        _publish(aws, 1, 2, 3)
        loop.settle(3)
        level1 = loop.job("keypoints-l1")
        tasks = _tick_until(loop, lambda: len(t := _tasks_by_frame(client, level1.label_studio_project)) == 3 and t)
        projects = _as_a_person(label_studio, "GET", "/api/projects?page_size=1000")["results"]
        made = [p["id"] for p in projects if p["title"].startswith(level1.name) and p["id"] not in earlier]
        assert made == [level1.label_studio_project]
        result = copy.deepcopy(tasks[1]["predictions"][0]["result"])
        _region(result, "keypointlabels", "nose")["value"]["x"] += 5.0
        _submit(label_studio, tasks[1]["id"], result)
        _submit(label_studio, tasks[2]["id"], [], skip=True)
        _as_a_person(label_studio, "DELETE", f"/api/tasks/{tasks[3]['id']}")
        _tick_until(loop, lambda: loop.portal.counts["answered"] == 1 and loop.portal.counts["expired"] == 1)
        loop.settle(5)  # the answer, the expiry
        still_open = loop.portal.open_tasks(level1.name)
        # The skipped task stays open; the deleted one is gone (frame 3 may already be back as a new task).
        assert "000002.jpg" in [t.line["source-ref"][-10:] for t in still_open]
        assert tasks[3]["data"]["labelloop_object"] not in [t.object_id for t in still_open]
        _tick_until(loop, lambda: len(loop.portal.open_tasks(level1.name)) == 2)  # frame 3 again, new dedup id
        front.frames = FrameLinks("https://portal.example.com", link_key("moved"))
        moved_to = _tick_until(loop, lambda: _tasks_by_frame(client, level1.label_studio_project)[2]["data"]["image"]
                               .startswith("https://portal.example.com/label-studio/frames/"))  # fmt: skip
        assert moved_to, "the skipped task still shows its frame at the old URL"
        level2 = loop.job("keypoints-l2")
        adjust = _tick_until(loop, lambda: _tasks_by_frame(client, level2.label_studio_project))
        [prediction] = adjust[1]["predictions"]
        assert prediction["model_version"] == "level-1 answer"
        moved = _region(prediction["result"], "keypointlabels", "nose")["value"]["x"]
        assert moved == pytest.approx(_region(result, "keypointlabels", "nose")["value"]["x"], abs=0.01)
        _submit(label_studio, adjust[1]["id"], prediction["result"])
        _tick_until(loop, lambda: loop.portal.counts["answered"] == 2)
        loop.settle(6)
    points = {p["label"]: p["x"] for p in _human_points(aws, 1, level=2)}
    assert points["nose"] == pytest.approx(moved * 6.4, abs=0.02)


def test_an_unreachable_or_refusing_label_studio_or_a_deleted_project_keeps_every_message(
    aws: AwsClients, stack: ProvisionedStack, label_studio: LabelStudioServer
) -> None:
    """A wrong token: the job waits Initializing with the reason in `labelloop jobs`, gt-bridge keeps the
    frame until a personal access token fixes it. Label Studio unreachable later: no new task is taken, the
    reason shows. A project deleted there: its tasks expire and come back in a new project. Nothing is
    dead-lettered (labeling_loop checks)."""
    front = _front(label_studio)
    front.client = _client(label_studio, token="0" * 40)
    with labeling_loop(aws, stack, modalities=("keypoints",), backend="label-studio", label_studio=front) as loop:
        job = loop.job("keypoints-l1")
        assert job.status == "Initializing"
        assert "refused the API token" in job.problem
        _publish(aws, 1)
        loop.settle(1)
        [row] = json.loads(labelloop_cli(aws, "jobs", "--json").stdout)["jobs"]
        assert row["state"].startswith("waiting: ")
        assert "refused the API token" in row["state"]
        assert row["stuck"] == 1

        # An operator fixes the token with a personal access token (the kind Label Studio makes by default).
        front.client = LabelStudioClient(
            label_studio.url,
            create_personal_access_token(label_studio.url, label_studio.login.email, label_studio.login.password),
        )
        loop.portal.tick()
        assert loop.job("keypoints-l1").status == "InProgress"
        assert handlers.sweep(loop.deps).resent == 1  # the frame that waited goes out
        client = _client(label_studio)
        first = _tick_until(loop, lambda: _tasks_by_frame(client, loop.job("keypoints-l1").label_studio_project))
        assert list(first) == [1]
        # Minutes later the access token the personal one was exchanged for has expired: refused (401),
        # exchanged again, and the call goes through.
        front.client._access = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.expired"
        assert front.client.project(int(loop.job("keypoints-l1").label_studio_project))["id"] > 0
        assert front.client._access != "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.expired"

        front.client = LabelStudioClient(f"http://127.0.0.1:{free_port()}", label_studio.login.token)  # gone
        _publish(aws, 2)
        _tick_until(loop, lambda: "unreachable" in loop.job("keypoints-l1").problem)
        loop.settle(2)
        for _ in range(5):
            loop.portal.tick()
        assert loop.portal.counts["received"] == 1, "a task was taken while Label Studio was away"
        front.client = _client(label_studio)
        _tick_until(loop, lambda: len(_tasks_by_frame(client, loop.job("keypoints-l1").label_studio_project)) == 2)
        assert loop.job("keypoints-l1").problem == ""

        deleted = loop.job("keypoints-l1").label_studio_project
        _as_a_person(label_studio, "DELETE", f"/api/projects/{deleted}")
        _tick_until(loop, lambda: loop.portal.counts["expired"] == 2)
        loop.settle(4)
        again = _tick_until(
            loop,
            lambda: (
                (job := loop.job("keypoints-l1")).label_studio_project not in (None, deleted)
                and len(found := _tasks_by_frame(client, job.label_studio_project)) == 2
                and found
            ),
        )
        assert sorted(again) == [1, 2]


def test_the_compose_setup_step_signs_in_as_the_admin_and_names_a_wrong_login(
    label_studio: LabelStudioServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m labelloop_portal.label_studio_setup` (docker compose's one-shot): 0 with the admin's login
    (again: it is idempotent), 78 with a wrong password or missing variables, 69 when nothing answers."""
    login = label_studio.login
    monkeypatch.setenv("LABEL_STUDIO_USERNAME", login.email)
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.setenv("LABEL_STUDIO_PASSWORD", login.password)
    assert label_studio_setup.main() == ExitCode.CONFIG
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    assert label_studio_setup.main() == ExitCode.OK
    client = _client(label_studio)  # the admin's legacy token works
    assert client.tasks(client.create_project("setup check", labeling_config("head", []))) == []
    monkeypatch.setenv("LABEL_STUDIO_PASSWORD", "not-" + login.password)
    assert label_studio_setup.main() == ExitCode.CONFIG
    monkeypatch.setattr(label_studio_setup, "READY_TIMEOUT_S", 0.0)
    monkeypatch.setenv("LABEL_STUDIO_URL", f"http://127.0.0.1:{free_port()}")
    assert label_studio_setup.main() == ExitCode.UNAVAILABLE


def test_a_crash_between_the_import_and_its_record_shows_each_task_once(
    aws: AwsClients, stack: ProvisionedStack, label_studio: LabelStudioServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB throttles the write that records a task's Label Studio id, right after the import: the next
    poll finds the task in Label Studio by its object and records it; nothing is imported twice. A task
    whose import failed (Label Studio away for that call) is imported by the next poll."""
    client = _client(label_studio)
    with labeling_loop(aws, stack, modalities=("keypoints",), backend="label-studio",
                       label_studio=_front(label_studio)) as loop:  # fmt: skip
        throttle = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutItem")
        recorded = TaskStore.shown
        monkeypatch.setattr(TaskStore, "shown", lambda *_: (_ for _ in ()).throw(throttle))
        _publish(aws, 1, 2)
        loop.settle(2)
        job = loop.job("keypoints-l1")
        _tick_until(loop, lambda: len(_tasks_by_frame(client, loop.job("keypoints-l1").label_studio_project)) == 2)
        assert all(task.external_id is None for task in loop.portal.open_tasks(job.name))
        monkeypatch.setattr(TaskStore, "shown", recorded)
        _tick_until(loop, lambda: all(t.external_id is not None for t in loop.portal.open_tasks(job.name)))
        assert len(client.tasks(loop.job("keypoints-l1").label_studio_project)) == 2, "a task was imported twice"

        refused = LabelStudioUnavailableError("Label Studio went away for one call")
        imported = LabelStudioClient.import_tasks
        monkeypatch.setattr(LabelStudioClient, "import_tasks", lambda *_: (_ for _ in ()).throw(refused))
        _publish(aws, 3)
        loop.settle(3)
        _tick_until(loop, lambda: len(loop.portal.open_tasks(job.name)) == 3)
        monkeypatch.setattr(LabelStudioClient, "import_tasks", imported)
        shown = _tick_until(
            loop, lambda: len(found := _tasks_by_frame(client, job.label_studio_project)) == 3 and found
        )
        assert sorted(shown) == [1, 2, 3]
        assert len(client.tasks(job.label_studio_project)) == 3


def test_labelloop_up_uses_a_label_studio_the_team_runs_already(
    label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    """`labelloop up --labeling label-studio --label-studio-url URL` with the token in the environment starts
    no Label Studio of its own: the portal makes its projects in that one. Without the token it exits 78
    before starting anything, and the URL alone is a usage error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LABELLOOP_PORTAL_"))}
    env |= {"LABELLOOP_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "200"}
    args = ["--labeling", "label-studio", "--label-studio-url", label_studio.url, "--services", "gt-bridge,portal"]
    runner = CliRunner()
    assert runner.invoke(app, ["up", *args], env=env).exit_code == ExitCode.CONFIG
    assert runner.invoke(app, ["up", "--label-studio-url", label_studio.url], env=env).exit_code == ExitCode.USAGE
    token = label_studio.login.token  # the admin's (its personal access token is another test's)
    existing = {p["id"] for p in _as_a_person(label_studio, "GET", "/api/projects?page_size=1000")["results"]}
    with labelloop_up(args, env | {"LABELLOOP_PORTAL_LABEL_STUDIO_TOKEN": token}, cwd=tmp_path,
                      log_path=tmp_path / "up.log") as state:  # fmt: skip
        assert state.label_studio_url == label_studio.url
        assert not (tmp_path / "state" / "label-studio").exists(), "it started a Label Studio of its own"

        def new_projects() -> list[str]:
            found = _as_a_person(label_studio, "GET", "/api/projects?page_size=1000")["results"]
            return [p["title"] for p in found if p["id"] not in existing]

        titles = eventually(lambda: len(found := new_projects()) >= 2 and found, timeout_s=120)
    assert sorted(title.split(" (")[1] for title in titles) == ["head, level 1)", "keypoints, level 1)"]
    assert "(yours, with LABELLOOP_PORTAL_LABEL_STUDIO_TOKEN)" in (tmp_path / "up.log").read_text()
