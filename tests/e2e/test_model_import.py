"""`labelloop models import`: a team's checkpoint into a slot of the running stack, or a clear
refusal that registers nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tritonclient.http as triton_http
import ultralytics
from labelloop import ExitCode, PredictionsReady
from labelloop.model_registry import Registry
from labelloop_tools.local import StackState
from labelloop_tools.local.stack import local_clients
from labelloop_tools.model_sets import DEFAULT_SET_FOLDER

from tests.helpers import drain, eventually, labelloop_up, real_model_set

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
REPO = Path(__file__).parents[2]
IN_CABIN = REPO / "models" / "initial"
BUS = Path(ultralytics.__file__).parent / "assets" / "bus.jpg"


def labelloop(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labelloop_tools", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    state = tmp_path_factory.mktemp("import-state")
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "LABELLOOP_STATE_DIR": str(state),
        "COLUMNS": "200",
    }


@pytest.fixture(scope="module")
def running(env: dict[str, str]) -> Iterator[StackState]:
    """`labelloop up` with the real set and only ingest and inference (their output stays queued)."""
    real_model_set()
    log_path = Path(env["LABELLOOP_STATE_DIR"]) / "up.log"
    with labelloop_up(["--services", "ingest,inference"], env, cwd=REPO, log_path=log_path) as state:
        yield state


def versions(state: StackState) -> list[int]:
    registry = Registry(local_clients(state.endpoint_url).dynamodb, "labelloop-models")
    return [v.version for v in registry.versions()]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((str(IN_CABIN / "head.pt"), "--slot", "pose_main"), "a detect model cannot serve in pose_main"),
        ((str(IN_CABIN / "pose_main.pt"), "--slot", "head"), "a pose model cannot serve in head"),
        ((str(IN_CABIN / "model-set.json"), "--slot", "pose_main"), "an Ultralytics .pt or an .onnx file"),
        ((str(REPO / "README.md").replace("README.md", "missing.pt"), "--slot", "head"), "no such file"),
        ((str(IN_CABIN / "pose_main.pt"), "--slot", "elbow"), "--slot must be one of"),
    ],
    ids=["detect-in-pose", "pose-in-head", "not-a-model", "missing", "unknown-slot"],
)
def test_a_model_that_does_not_fit_exits_2_and_registers_nothing(
    running: StackState, env: dict[str, str], args: tuple[str, ...], reason: str
) -> None:
    """Wrong task, not a checkpoint, no file, no such slot: exit 2 with the reason; the registry keeps one set."""
    result = labelloop("models", "import", *args, env=env)
    assert result.returncode == ExitCode.USAGE, result.stdout + result.stderr
    assert reason in " ".join(result.stderr.split())
    assert versions(running) == [1]


def test_keypoint_count_must_match_the_rig(running: StackState, env: dict[str, str], tmp_path: Path) -> None:
    """yolo11n-pose (17 points) under a team's 13-point rig, and a corrupt .pt: exit 2, nothing registered."""
    rig = tmp_path / "thirteen.json"
    names = [f"p{i}" for i in range(13)]
    rig.write_text(json.dumps({"name": "thirteen", "keypoints": names}))
    result = labelloop("models", "import", str(REPO / DEFAULT_SET_FOLDER / "pose_main.pt"), "--slot", "pose_main",
                       "--rig", str(rig), env=env)  # fmt: skip
    assert result.returncode == ExitCode.USAGE
    assert "predicts 17 keypoints; rig 'thirteen' has 13" in " ".join(result.stderr.split())
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint" * 100)
    result = labelloop("models", "import", str(corrupt), "--slot", "pose_main", env=env)
    assert result.returncode == ExitCode.USAGE
    assert "not a readable Ultralytics checkpoint" in " ".join(result.stderr.split())
    assert versions(running) == [1]


def test_imports_serve_as_new_set_versions_without_a_restart(running: StackState, env: dict[str, str]) -> None:
    """A head detector into the real set's head slot: set 2 serves (heads from the detector, pose_main
    kept at v1) and inference uses it at once; then an in-cabin pose model with its own rig: set 3,
    the head (on the other rig) dropped back to its rule."""
    result = labelloop("models", "import", str(IN_CABIN / "head.pt"), "--slot", "head", env=env)
    assert result.returncode == 0, result.stderr
    listed = json.loads(labelloop("models", "--json", env=env).stdout)
    assert listed["serving"] == 2
    second = listed["versions"][1]["set"]
    assert (second["rig"], second["head_rule"], second["imgsz"]) == ("coco17", "detector", 640)
    assert {name: slot["version"] for name, slot in second["models"].items()} == {"pose_main": 1, "head": 2}
    assert second["models"]["head"]["source"] == "imported"
    assert triton_http.InferenceServerClient(str(running.triton_url)).get_model_metadata("head")["versions"] == ["2"]

    aws = local_clients(running.endpoint_url)
    sent = labelloop("upload", str(BUS), env=env)
    assert sent.returncode == 0, sent.stderr
    selector_queue = aws.sqs.get_queue_url(QueueName="labelloop-selector")["QueueUrl"]
    ready = eventually(lambda: [e for e in drain(aws, selector_queue) if isinstance(e, PredictionsReady)],
                       timeout_s=120)  # fmt: skip
    assert ready[0].model_versions == {"pose_main": "1", "head": "2"}

    result = labelloop("models", "import", str(IN_CABIN / "pose_main.pt"), "--slot", "pose_main", "--rig",
                       "in-cabin-17", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "left out (another rig): head" in " ".join(result.stdout.split())
    third = json.loads(labelloop("models", "--json", env=env).stdout)["versions"][2]["set"]
    assert (third["rig"], third["head_rule"], third["imgsz"]) == ("in-cabin-17", "face-keypoints", 160)
