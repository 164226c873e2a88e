"""The real model set (yolo11n-pose at 640 px) on 64 real frames, three ways, in one run:

    .venv/bin/python benchmarks/real_models.py [--clients 4] [--repeats 3]

* baseline: in-process Ultralytics, ``YOLO("yolo11n-pose.pt").predict`` on the 64 frames in
  batches of 8 (what a team would run without Labelloop);
* the inference stage: the inference service's own code path (letterbox, ``TritonModels`` from
  ``--clients`` threads, Triton's dynamic batching, the shared decoding with the set's rules)
  against the real Triton serving the set's ONNX export;
* the whole pipeline: ``labelloop up`` as a user starts it (the default set, people label at the
  portal), the frames uploaded as one clip, timed from the upload until the selector has published
  its verdict on every frame (ingest, inference, selector and the events between them on the
  emulator, while gt-bridge and the portal take the frames for people on the same cores).

Prints frames/s for each and two ratios: Triton / in-process (target >= 1.0) and pipeline /
inference stage (target >= 0.8). The 64 frames: OpenCV's vtest.avi (Debian's opencv-doc, fetched
as the tests fetch it) sampled at 0.8 fps. Client, server and pipeline share this machine's cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import psutil
from labelloop import FrameRef, StackNames
from labelloop.aws import AwsClients
from labelloop.model_set import read_set_folder
from labelloop.provision import subscribe_queue
from labelloop.triton_repository import write_model_set
from labelloop.visibility import Thresholds, decode_frame
from labelloop.yolo import PixelArray, batch
from labelloop_inference.triton import TritonModels
from labelloop_tools.local import StackState, free_port
from labelloop_tools.local.stack import local_clients
from labelloop_tools.local.triton import TritonServer
from labelloop_tools.model_sets import DEFAULT_SET_FOLDER, install_default_set
from labelloop_trainer.training import offline_ultralytics

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.media import vtest_avi  # noqa: E402 - the tests' fetcher of Debian's opencv-doc media

FRAMES, SAMPLE_FPS, BATCH = 64, 0.8, 8


def role(command: list[str]) -> str:
    """What a process of the benchmark or of ``labelloop up`` is, from its command line."""
    line = " ".join(command)
    for marker, name in (
        ("triton_python_backend_stub", "Triton's models (onnxruntime)"),
        ("tritonserver", "Triton server"),
        ("moto_main", "emulator (moto)"),
        ("labelloop_tools up", "launcher"),
    ):
        if marker in line:
            return name
    if len(command) > 2 and command[1] == "-m" and command[2].startswith("labelloop_"):
        return command[2].removeprefix("labelloop_").replace("_", "-")
    return "benchmark client"


def cpu_seconds(root: psutil.Process) -> Counter[str]:
    """CPU seconds so far of ``root`` and every process under it, by role."""
    totals: Counter[str] = Counter()
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a process that ended meanwhile
            times = process.cpu_times()
            totals[role(process.cmdline())] += times.user + times.system
    return totals


def settle(stack: psutil.Process, timeout_s: float = 120) -> None:
    """Wait until the stack idles (every service started, imports done, first polls made): the
    timed window holds the clip's work, not the services' start."""
    deadline = time.monotonic() + timeout_s
    quiet, last = 0, cpu_seconds(stack).total()
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu_seconds(stack).total()
        quiet = quiet + 1 if now - last < 0.15 else 0  # of 2 cores' 2 CPU-seconds a second
        last = now


def real_frames(clip: Path) -> list[PixelArray]:
    """The clip's frames at SAMPLE_FPS, as ingest would sample them (BGR)."""
    frames: list[PixelArray] = []
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 10)
        every = max(1, round(rate / SAMPLE_FPS))
        for index, frame in enumerate(container.decode(stream)):
            if index % every == 0:
                frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) == FRAMES:
                break
    return frames


def in_process(weights: Path, frames: list[PixelArray], work: Path, repeats: int) -> float:
    """Frames/s of Ultralytics' own predict, best of ``repeats`` (after a warm-up)."""
    yolo = offline_ultralytics(work / "ultralytics-config")(str(weights))
    yolo.predict(frames[:BATCH], imgsz=640, device="cpu", verbose=False)
    best = 0.0
    for _ in range(repeats):
        began = time.perf_counter()
        for start in range(0, len(frames), BATCH):
            yolo.predict(frames[start : start + BATCH], imgsz=640, device="cpu", verbose=False)
        best = max(best, len(frames) / (time.perf_counter() - began))
    return best


def served(
    folder: Path, frames: list[PixelArray], work: Path, clients: int, repeats: int
) -> tuple[float, Counter[str]]:
    """Frames/s of the inference service's path against Triton, best of ``repeats``; and the CPU
    seconds one pass took, by role."""
    model_set = read_set_folder(folder)
    write_model_set(work / "repo", folder, model_set)
    height, width = frames[0].shape[:2]
    with TritonServer(work / "repo", work / "triton", explicit_model_control=True) as server:
        models = TritonModels(server.http_url)
        chunks = [frames[start : start + BATCH] for start in range(0, len(frames), BATCH)]

        def run_chunk(chunk: list[PixelArray]) -> None:
            tensor, fits = batch(chunk, model_set.imgsz)
            [outputs] = models.infer([tensor], model_set.versions())
            for index, fit in enumerate(fits):
                frame = FrameRef(uri="s3://bench/f.jpg", frame_no=index, timestamp_s=0.0, width=width, height=height)
                decode_frame(outputs, index, fit, frame, rig=model_set.rig, thresholds=Thresholds())

        run_chunk(chunks[0])  # warm-up
        best = 0.0
        before = cpu_seconds(psutil.Process())
        try:
            for _ in range(repeats):
                began = time.perf_counter()
                with ThreadPoolExecutor(max_workers=clients) as pool:
                    list(pool.map(run_chunk, chunks))
                best = max(best, len(frames) / (time.perf_counter() - began))
        finally:
            models.close()
        used = cpu_seconds(psutil.Process()) - before
    return best, Counter({name: seconds / repeats for name, seconds in used.items()})


class JudgementWatch:
    """Hears the selector's verdicts as they are published: a queue of the benchmark's own on the
    topics of auto-accepted and human-review-requested frames, and on frames-extracted for how
    many frames there are. Listening instead of reading the books (the demo's ledger lists S3 and
    scans DynamoDB) keeps the observer from loading the emulator it times and from adding a poll
    interval to the end."""

    def __init__(self, clients: AwsClients, names: StackNames) -> None:
        self._sqs = clients.sqs
        self.queue_url = clients.sqs.create_queue(QueueName=names.physical("benchmark-judged"))["QueueUrl"]
        for topic in ("frames-extracted", "auto-accepted", "human-review-requested"):
            subscribe_queue(clients, clients.sns.create_topic(Name=names.physical(topic))["TopicArn"], self.queue_url)
        self.extracted: int | None = None
        self.judged: set[str] = set()

    def hear(self) -> None:
        """Take what arrived (waits up to a second when nothing has)."""
        reply = self._sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in reply.get("Messages", []):
            event = json.loads(message["Body"])
            if event["type"] == "FramesExtracted":
                self.extracted = event["total_frames"]
            elif event["type"] == "AutoAcceptedBatch":
                self.judged.update(frame["uri"] for frame in event["frames"])
            elif event["type"] == "HumanReviewRequested":
                self.judged.add(event["predictions"]["frame"]["uri"])
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    @property
    def done(self) -> bool:
        return self.extracted is not None and len(self.judged) >= self.extracted


def pipeline(clip: Path, work: Path, timeout_s: float = 600) -> tuple[float, int, Counter[str]]:
    """Frames/s from upload until the selector has judged every frame, through ``labelloop up`` as a
    user starts it (people label at the portal); the frame count; and the CPU seconds each part of
    the stack took meanwhile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "LABELLOOP_STATE_DIR": str(work / "state"),
        "LABELLOOP_INGEST_DEFAULT_FPS": str(SAMPLE_FPS),
        "LABELLOOP_SELECTOR_NEAR_DUPLICATE_DISTANCE": "0",
        "LABELLOOP_SELECTOR_MAX_HUMAN_PER_CLIP": "0",
        "LABELLOOP_SELECTOR_MAX_HUMAN_PER_HOUR": "0",
    }
    with (work / "up.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "labelloop_tools", "up", "--port", str(free_port())],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while (state := StackState.read(work / "state")) is None:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"labelloop up did not start; see {work / 'up.log'}")
            time.sleep(0.5)
        clients = local_clients(state.endpoint_url)
        watch = JudgementWatch(clients, StackNames("labelloop"))
        stack = psutil.Process(process.pid)
        settle(stack)
        before = cpu_seconds(stack)
        began = time.perf_counter()
        clients.s3.upload_file(str(clip), "labelloop-uploads", "clips/bench/vtest.avi")
        while not watch.done:
            if time.perf_counter() - began > timeout_s:
                raise RuntimeError(f"{len(watch.judged)} of {watch.extracted} frames judged after {timeout_s:.0f} s")
            watch.hear()
        through = len(watch.judged) / (time.perf_counter() - began)
        return through, len(watch.judged), cpu_seconds(stack) - before
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4, help="service threads calling Triton (its concurrency)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = REPO / DEFAULT_SET_FOLDER
    install_default_set(folder)
    clip = vtest_avi()
    frames = real_frames(clip)
    with tempfile.TemporaryDirectory(prefix="labelloop-bench-") as tmp:
        work = Path(tmp)
        baseline = in_process(folder / "pose_main.pt", frames, work, args.repeats)
        stage, stage_cpu = served(folder, frames, work, args.clients, args.repeats)
        through, judged, pipeline_cpu = pipeline(clip, work)
    result = {
        "frames": len(frames),
        "in_process_frames_per_s": round(baseline, 2),
        "triton_frames_per_s": round(stage, 2),
        "pipeline_frames_per_s": round(through, 2),
        "pipeline_frames": judged,
        "triton_vs_in_process": round(stage / baseline, 2),
        "pipeline_vs_inference_stage": round(through / stage, 2),
        "cpu_cores": os.cpu_count(),
        "inference_stage_cpu_s": {name: round(seconds, 1) for name, seconds in stage_cpu.most_common()},
        "pipeline_cpu_s": {name: round(seconds, 1) for name, seconds in pipeline_cpu.most_common()},
    }
    print(f"{len(frames)} real frames (vtest.avi at {SAMPLE_FPS} fps), yolo11n-pose at 640 px:")
    print(f"  in-process YOLO.predict      {baseline:6.2f} frames/s")
    print(f"  Triton (inference's path)    {stage:6.2f} frames/s   {stage / baseline:4.2f}x  (target >= 1.0x)")
    print(f"  whole pipeline (labelloop up) {through:5.2f} frames/s   {through / stage:4.2f}x of the inference stage "
          "(target >= 0.8x)")  # fmt: skip
    print_cpu("inference stage alone, one pass", stage_cpu)
    print_cpu("whole pipeline, upload to last verdict", pipeline_cpu)
    print(json.dumps(result))


def print_cpu(title: str, used: Counter[str]) -> None:
    """Where the cores went: what decides whether the pipeline can keep up with Triton alone on
    one machine is how much CPU everything but Triton's models needs beside them."""
    models = used["Triton's models (onnxruntime)"]
    rest = sum(used.values()) - models
    print(f"  CPU seconds, {title}: Triton's models {models:.1f}, everything else {rest:.1f}")
    for name, seconds in used.most_common():
        if name != "Triton's models (onnxruntime)" and seconds >= 0.05:
            print(f"      {name:<28} {seconds:5.1f}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
