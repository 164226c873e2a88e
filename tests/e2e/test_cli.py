"""The labelloop CLI as a user runs it: real processes, a real emulator, real exit codes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from labelloop import ExitCode, StackNames
from labelloop_portal.label_studio_setup import admin_session
from labelloop_tools.local import MotoServer, StackState, free_port
from labelloop_tools.local.label_studio import missing_reason as label_studio_missing
from labelloop_tools.local.stack import local_clients

from tests.helpers import eventually, labelloop_up
from tests.media import image

SHIPPED_MODELS = Path(__file__).parents[2] / "models" / "initial"

pytestmark = pytest.mark.e2e


def labelloop(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelloop_tools", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """A user's environment with no AWS endpoint set and a private state dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"LABELLOOP_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "200"}
    return env


@pytest.fixture
def stack_up(cli_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """`labelloop up` running in the background, as a user would leave it in a terminal."""
    process = subprocess.Popen(
        [sys.executable, "-m", "labelloop_tools", "up", "--port", str(free_port()), "--models", str(SHIPPED_MODELS)],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    state_dir = tmp_path / "state"
    try:
        eventually(lambda: StackState.read(state_dir) or process.poll() is not None, timeout_s=60)
        assert process.poll() is None, process.communicate()[0]
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate(timeout=30)


def test_help_documents_every_command(cli_env: dict[str, str]) -> None:
    """`labelloop --help` (the installed entry point) lists every command, and each has its own help (asked
    in-process: a process per command took a minute of the suite)."""
    from labelloop_tools.cli import app
    from typer.testing import CliRunner

    result = labelloop("--help", env=cli_env)
    assert result.returncode == 0
    runner = CliRunner()
    for command in ("up", "demo", "provision", "status", "upload", "dlq", "jobs", "models", "export", "import"):
        assert command in result.stdout
        helped = runner.invoke(app, [command, "--help"], env=cli_env)
        assert helped.exit_code == 0, (command, helped.output)
        assert "Usage" in helped.output
    assert labelloop("--version", env=cli_env).stdout.startswith("labelloop ")


def test_up_refuses_an_unknown_kind_of_labelers_before_starting_anything(cli_env: dict[str, str]) -> None:
    result = labelloop("up", "--labelers", "robots", env=cli_env)
    assert result.returncode == ExitCode.USAGE
    assert "people or simulated" in result.stderr
    result = labelloop("up", "--labeling", "label-studio", "--labelers", "simulated", env=cli_env)
    assert result.returncode == ExitCode.USAGE
    assert "is for people" in result.stderr


@pytest.mark.timeout(600)
def test_up_with_label_studio_prints_its_login_and_the_portal_keeps_a_project_per_job(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """`labelloop up --labeling label-studio`: Label Studio starts beside the stack, the panel prints its
    URL and login, and with that login a person sees one project per labeling job, made by the portal."""
    if reason := label_studio_missing():
        pytest.skip(reason)
    log_path = tmp_path / "up.log"
    with labelloop_up(["--labeling", "label-studio", "--services", "gt-bridge,portal"], cli_env,
                      cwd=Path.cwd(), log_path=log_path) as state:  # fmt: skip
        assert state.label_studio_url is not None
        panel = eventually(lambda: re.search(r"label studio\s+(\S+)\s+\(login (\S+) / (\S+)\)", log_path.read_text()))
        url, email, password = panel.groups()
        assert url == state.label_studio_url
        opener, _ = admin_session(url, email, password)  # as a person signs in

        def projects() -> set[str]:
            with opener.open(f"{url}/api/projects?page_size=100", timeout=30) as response:
                return {p["title"] for p in json.loads(response.read())["results"]}

        def job_projects() -> set[str]:
            titles = projects()
            return titles if any("keypoints-l1" in title for title in titles) else set()

        titles = eventually(job_projects, timeout_s=120)
        assert all("level " in title for title in titles), titles


def test_up_status_upload_and_ctrl_c(stack_up: subprocess.Popen[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    """The embedded stack starts (with Triton), reports its queues, turns an uploaded image into a
    frame that the real models predict and the selector judges, and stops cleanly on Ctrl-C."""
    state = StackState.read(tmp_path / "state")
    assert state is not None
    assert sorted(state.services) == ["gt-bridge", "inference", "ingest", "portal", "selector", "trainer"]

    status = labelloop("status", "--json", env=cli_env)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["endpoint_url"] == state.endpoint_url
    assert [q["service"] for q in report["queues"]] == ["ingest", "inference", "selector", "gt-bridge", "trainer"]

    picture = image(tmp_path / "cabin 01.png")
    upload = labelloop("upload", str(picture), "--fps", "2", "-t", "clip.weather=rain", env=cli_env)
    assert upload.returncode == 0, upload.stderr
    assert "s3://labelloop-uploads/images/cabin 01.png" in upload.stderr
    head = local_clients(state.endpoint_url).s3.head_object(Bucket="labelloop-uploads", Key="images/cabin 01.png")
    assert head["Metadata"] == {"fps": "2.0", "taxonomy-clip-weather": "rain"}

    def drained() -> bool:
        queues = json.loads(labelloop("status", "--json", env=cli_env).stdout)["queues"]
        return all(q["waiting"] == q["in_flight"] == q["dead_letters"] == 0 for q in queues)

    eventually(drained, timeout_s=30)
    assert labelloop("status", "--check", env=cli_env).returncode == ExitCode.OK
    assert state.portal_url is not None
    with pytest.raises(urllib.error.HTTPError) as refused:  # the portal's page wants the printed token
        urllib.request.urlopen(state.portal_url, timeout=10)  # noqa: S310 - the local stack's own page
    assert refused.value.code == 401

    stack_up.send_signal(signal.SIGINT)
    output, _ = stack_up.communicate(timeout=60)
    assert stack_up.returncode == 0, output
    assert re.search(r"portal\s+http://127\.0\.0\.1:\d+/\?token=[\w-]{16,}", output), output[:2000]
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    [extracted] = [line for line in lines if line["event"] == "ingest.extracted"]
    assert extracted["correlation_id"] == "s3://labelloop-uploads/images/cabin 01.png"
    assert extracted["frames"] == 1
    [predicted] = [line for line in lines if line["event"] == "inference.predicted"]
    assert predicted["correlation_id"] == extracted["clip_id"]
    assert predicted["model_versions"] == {"pose_main": "1", "pose_visible": "1", "head": "1"}
    [judged] = [line for line in lines if line["event"] == "selector.judged"]
    assert judged["clip_id"] == extracted["clip_id"]
    assert StackState.read(tmp_path / "state") is None
    for pid in state.services.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_second_up_is_refused(stack_up: subprocess.Popen[str], cli_env: dict[str, str]) -> None:
    """Starting a second stack on the same state dir is a usage error, not a port clash."""
    result = labelloop("up", env=cli_env)
    assert result.returncode == ExitCode.USAGE
    assert "already up" in result.stderr


def test_status_check_fails_when_dead_letters_wait(
    stack_up: subprocess.Popen[str], cli_env: dict[str, str], tmp_path: Path
) -> None:
    """A poison message ends in ingest's DLQ, `status --check` exits 3 while it waits there, `dlq list`
    shows it with its reason and `dlq redrive` replays it."""
    state = StackState.read(tmp_path / "state")
    assert state is not None
    sqs = local_clients(state.endpoint_url).sqs
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="labelloop-ingest")["QueueUrl"], MessageBody="{garbage")
    eventually(lambda: labelloop("status", "--check", env=cli_env).returncode == ExitCode.CHECK_FAILED, timeout_s=30)
    assert "1" in labelloop("status", env=cli_env).stdout
    [letter] = [
        json.loads(line) for line in labelloop("dlq", "list", "ingest", "--json", env=cli_env).stdout.splitlines()
    ]
    assert letter["service"] == "ingest"
    assert letter["body"] == "{garbage"
    assert "SQS message body is not valid JSON" in letter["reason"]
    redrive = labelloop("dlq", "redrive", "ingest", env=cli_env)
    assert "moved 1 dead letter(s) of ingest" in redrive.stdout
    # Still garbage after the replay: ingest dead-letters it again, with a fresh receive count.
    eventually(lambda: labelloop("status", "--check", env=cli_env).returncode == ExitCode.CHECK_FAILED, timeout_s=30)


def test_upload_refuses_unsupported_files_and_sends_nothing(
    moto_server: MotoServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """One unsupported file among good ones: exit 2, a clear message, and no object uploaded."""
    moto_server.reset()
    env = cli_env | {"AWS_ENDPOINT_URL": moto_server.url, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    assert labelloop("provision", env=env).returncode == 0
    (tmp_path / "ok.jpg").write_bytes(b"jpeg")
    (tmp_path / "notes.txt").write_text("no")
    result = labelloop("upload", str(tmp_path / "ok.jpg"), str(tmp_path / "notes.txt"), env=env)
    assert result.returncode == ExitCode.USAGE
    assert "unsupported file type '.txt'" in result.stderr
    listing = local_clients(moto_server.url).s3.list_objects_v2(Bucket=StackNames().physical("uploads"))
    assert listing.get("KeyCount", 0) == 0


def test_exit_codes_for_unreachable_and_missing_stacks(moto_server: MotoServer, cli_env: dict[str, str]) -> None:
    """No endpoint answering → 69; an endpoint without the stack → 78 with a hint to provision."""
    env = cli_env | {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_MAX_ATTEMPTS": "1"}
    started = time.monotonic()
    unreachable = labelloop("status", "--endpoint-url", f"http://127.0.0.1:{free_port()}", env=env)
    assert unreachable.returncode == ExitCode.UNAVAILABLE, unreachable.stderr
    assert time.monotonic() - started < 30
    moto_server.reset()
    missing = labelloop("status", "--endpoint-url", moto_server.url, env=env)
    assert missing.returncode == ExitCode.CONFIG
    assert "labelloop provision" in missing.stderr


def test_a_local_emulator_needs_no_credentials_and_aws_names_missing_ones(
    moto_server: MotoServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """No AWS credentials anywhere: against a loopback emulator, provision and upload just work with the
    emulator's dummies; against any other endpoint the error says credentials are missing (78), not
    that the endpoint cannot be reached."""
    moto_server.reset()
    home = tmp_path / "home"  # no ~/.aws either
    home.mkdir()
    env = cli_env | {"HOME": str(home), "AWS_CONFIG_FILE": str(home / "none"), "AWS_SHARED_CREDENTIALS_FILE":
                     str(home / "none"), "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    local = moto_server.url.replace("127.0.0.1", "localhost")
    assert labelloop("provision", "--endpoint-url", local, env=env).returncode == 0
    picture = image(tmp_path / "cabin.jpg")
    uploaded = labelloop("upload", "--endpoint-url", moto_server.url, str(picture), env=env)
    assert uploaded.returncode == 0, uploaded.stderr
    listing = local_clients(moto_server.url).s3.list_objects_v2(Bucket=StackNames().physical("uploads"))
    assert [o["Key"] for o in listing.get("Contents", [])] == ["images/cabin.jpg"]

    remote = labelloop("status", "--endpoint-url", "https://sqs.eu-west-1.amazonaws.com", env=env)
    assert remote.returncode == ExitCode.CONFIG, remote.stderr
    assert "no AWS credentials" in remote.stderr
    assert "cannot reach" not in remote.stderr


def test_killed_launcher_leaves_no_orphans(stack_up: subprocess.Popen[str], tmp_path: Path) -> None:
    """SIGKILL of `labelloop up` (no chance to clean up) still takes the services, emulator and Triton down."""
    state = StackState.read(tmp_path / "state")
    assert state is not None
    stack_up.kill()

    def all_gone() -> bool:
        for pid in state.services.values():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            return False
        return True

    eventually(all_gone, timeout_s=40)
    assert not MotoServer(port=int(state.endpoint_url.rsplit(":", 1)[1])).is_ready()
    assert state.triton_url is not None

    def triton_gone() -> bool:
        try:
            urllib.request.urlopen(f"http://{state.triton_url}/v2/health/ready", timeout=2)
        except OSError:
            return True
        return False

    eventually(triton_gone, timeout_s=30)
