"""`labelloop up` with its default, real model set (yolo11n-pose, COCO-17) on real media from
packages: the two photos the ultralytics wheel ships and OpenCV's vtest.avi from Debian, uploaded
under nested, oddly named folders. Every frame must end auto-accepted or labelled exactly once,
no message may be dead-lettered, and the people in the photos must be found."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ultralytics
from labelloop import ExitCode, StackNames
from labelloop.model_set import read_set_folder
from labelloop.rig import COCO17
from labelloop_tools.demo.ledger import Ledger
from labelloop_tools.local import StackState
from labelloop_tools.local.stack import local_clients

from tests.helpers import eventually, labelloop_up, real_model_set
from tests.media import vtest_avi

pytestmark = [pytest.mark.e2e, pytest.mark.long, pytest.mark.timeout(600)]
REPO = Path(__file__).parents[2]
ASSETS = Path(ultralytics.__file__).parent / "assets"
PHOTOS = "cam 1/drive+7/100% é"  # a space, a '+', a '%' and unicode in one nested folder
CLIP = "cam 1/drive 8"


def labelloop(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labelloop_tools", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def real_set() -> Path:
    """The default set as `make install` leaves it (built here if this checkout has not yet)."""
    return real_model_set()


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    """The media under nested folders with odd names, as a team's drive export might look."""
    root = tmp_path / "footage"
    (root / PHOTOS).mkdir(parents=True)
    (root / CLIP).mkdir(parents=True)
    for name in ("bus.jpg", "zidane.jpg"):
        shutil.copyfile(ASSETS / name, root / PHOTOS / name)
    shutil.copyfile(vtest_avi(), root / CLIP / "vtest.avi")
    return root


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return base | {
        "LABELLOOP_STATE_DIR": str(tmp_path / "state"),
        "COLUMNS": "200",
        "LABELLOOP_INGEST_DEFAULT_FPS": "0.5",  # 40 frames of vtest.avi's 80 s
        "LABELLOOP_PORTAL_TICK_S": "0.2",
        "LABELLOOP_PORTAL_SIM_DELAY_S": "0",
        "LABELLOOP_SELECTOR_NEAR_DUPLICATE_DISTANCE": "0",  # every frame judged, none deferred
        "LABELLOOP_SELECTOR_MAX_HUMAN_PER_CLIP": "0",
        "LABELLOOP_SELECTOR_MAX_HUMAN_PER_HOUR": "0",
    }


@pytest.fixture
def real_stack(real_set: Path, env: dict[str, str], tmp_path: Path) -> Iterator[StackState]:
    """`labelloop up` with no --models: the default real set, simulated labelers."""
    with labelloop_up(["--labelers", "simulated", "--visibility-timeout", "30"], env, cwd=REPO,
                      log_path=tmp_path / "up.log") as state:  # fmt: skip
        yield state


def persons_of(line: dict[str, Any]) -> list[tuple[dict[str, float], list[dict[str, Any]]]]:
    """(box, located points) per person of a manifest line."""
    boxes = [person["box"] for person in line["keypoints-metadata"]["persons"]]
    points = line["keypoints"]["crowdKeypoint"]["keypoints"]
    return [(box, [p for p in points if p["person"] == index and p["visibility"] != "outside"])
            for index, box in enumerate(boxes)]  # fmt: skip


def test_real_model_set_on_real_media_with_nested_odd_keys(
    real_stack: StackState, uploads: Path, env: dict[str, str], real_set: Path
) -> None:
    """Photos and a clip under 'cam 1/drive+7/100% é/' and 'cam 1/drive 8/': every frame is judged
    once, nothing is dead-lettered, bus.jpg has ≥ 3 persons and zidane.jpg ≥ 2, each with its
    located keypoints inside its box, and the registry says which rules are in force."""
    models = json.loads(labelloop("models", "--json", env=env, cwd=uploads).stdout)
    [first] = models["versions"]
    assert first["set"]["rig"] == "coco17"
    assert first["set"]["imgsz"] == read_set_folder(real_set).imgsz == 640
    assert (first["set"]["visibility_rule"], first["set"]["head_rule"]) == ("main-confidence", "face-keypoints")

    sent = labelloop("upload", "cam 1", env=env, cwd=uploads)
    assert sent.returncode == 0, sent.stderr
    keys = {f"images/{PHOTOS}/bus.jpg", f"images/{PHOTOS}/zidane.jpg", f"clips/{CLIP}/vtest.avi"}
    s3 = local_clients(real_stack.endpoint_url).s3
    assert {o["Key"] for o in s3.list_objects_v2(Bucket="labelloop-uploads")["Contents"]} == keys

    ledger = Ledger(local_clients(real_stack.endpoint_url), StackNames("labelloop"), ("head", "keypoints"))

    def settled() -> bool:
        records = ledger.refresh(keys)
        return len(ledger.clips_of(keys)) == 3 and len(records) > 3 and ledger.settled()

    try:
        eventually(settled, timeout_s=400, interval_s=2.0)
    except pytest.fail.Exception:
        pytest.fail(
            f"not every frame settled: clips {len(ledger.clips_of(keys))} of 3, fates {dict(ledger.outcomes())}"
        )
    assert not [r.uri for r in ledger.frames.values() if r.duplicated]
    assert len(ledger.frames) == 2 + 40
    check = labelloop("status", "--check", env=env, cwd=uploads)
    assert check.returncode == ExitCode.OK, check.stdout + check.stderr

    photos = {r.upload_key.rsplit("/", 1)[1]: r for r in ledger.frames.values() if r.upload_key.startswith("images/")}
    for name, at_least in (("bus.jpg", 3), ("zidane.jpg", 2)):
        record = photos[name]
        line = record.auto_lines[0] if record.auto_lines else record.prefill
        persons = persons_of(line)
        # A person cut by the frame's edge may have no point placed with confidence; the others have many.
        skeletons = [points for _, points in persons if len(points) >= 5]
        assert len(skeletons) >= at_least, f"{name}: {len(skeletons)} persons with skeletons of {len(persons)}"
        for box, points in persons:
            assert {p["label"] for p in points} <= set(COCO17.keypoints)
            # Box and points are separate regressions: a hip may sit a few pixels below the box's edge.
            slack = 0.05 * max(box["width"], box["height"])
            for p in points:
                assert box["left"] - slack <= p["x"] <= box["left"] + box["width"] + slack, (name, p, box)
                assert box["top"] - slack <= p["y"] <= box["top"] + box["height"] + slack, (name, p, box)
        heads = line["head"]["annotations"]
        assert len(heads) >= at_least - 1, f"{name}: {len(heads)} head boxes"  # a person seen from behind may have none
