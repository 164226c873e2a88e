"""The real model set (yolo11n-pose at 640 px) on 64 real frames, three ways, in one run:

    .venv/bin/python benchmarks/real_models.py [--clients 4] [--repeats 3]

* baseline: in-process Ultralytics, ``YOLO("yolo11n-pose.pt").predict`` on the 64 frames in
  batches of 8 (what a team would run without Labelloop);
* the inference stage: the inference service's own code path (letterbox, ``TritonModels`` from
  ``--clients`` threads, Triton's dynamic batching, the shared decoding with the set's rules)
  against the real Triton serving the set's ONNX export;
* the whole pipeline: ``labelloop up`` with the default set, the frames uploaded as one clip,
  timed from the upload until the selector has judged every frame (ingest, inference, selector,
  and the events between them on the emulator).

Prints frames/s for each and two ratios: Triton / in-process (target >= 1.0) and pipeline /
inference stage (target >= 0.8). The 64 frames: OpenCV's vtest.avi (Debian's opencv-doc, fetched
as the tests fetch it) sampled at 0.8 fps. Client, server and pipeline share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
from labelloop import FrameRef, StackNames
from labelloop.model_set import read_set_folder
from labelloop.triton_repository import write_model_set
from labelloop.visibility import Thresholds, decode_frame
from labelloop.yolo import PixelArray, batch
from labelloop_inference.triton import TritonModels
from labelloop_tools.demo.ledger import Ledger
from labelloop_tools.local import StackState, free_port
from labelloop_tools.local.stack import local_clients
from labelloop_tools.local.triton import TritonServer
from labelloop_tools.model_sets import DEFAULT_SET_FOLDER, install_default_set
from labelloop_trainer.training import offline_ultralytics

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.media import vtest_avi  # noqa: E402 - the tests' fetcher of Debian's opencv-doc media

FRAMES, SAMPLE_FPS, BATCH = 64, 0.8, 8
POLL_S = 1.0  # the ledger's reads load the emulator too: poll gently


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


def served(folder: Path, frames: list[PixelArray], work: Path, clients: int, repeats: int) -> float:
    """Frames/s of the inference service's path against Triton, best of ``repeats``."""
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
        try:
            for _ in range(repeats):
                began = time.perf_counter()
                with ThreadPoolExecutor(max_workers=clients) as pool:
                    list(pool.map(run_chunk, chunks))
                best = max(best, len(frames) / (time.perf_counter() - began))
        finally:
            models.close()
    return best


def pipeline(clip: Path, work: Path, timeout_s: float = 600) -> tuple[float, int]:
    """Frames/s from upload until every frame is judged, through ``labelloop up``; and the frame count."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "LABELLOOP_STATE_DIR": str(work / "state"),
        "LABELLOOP_INGEST_DEFAULT_FPS": str(SAMPLE_FPS),
        "LABELLOOP_SELECTOR_NEAR_DUPLICATE_DISTANCE": "0",
        "LABELLOOP_SELECTOR_MAX_HUMAN_PER_CLIP": "0",
        "LABELLOOP_SELECTOR_MAX_HUMAN_PER_HOUR": "0",
    }
    with (work / "up.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "labelloop_tools", "up", "--port", str(free_port()), "--labelers", "simulated"],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while (state := StackState.read(work / "state")) is None:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"labelloop up did not start; see {work / 'up.log'}")
            time.sleep(0.5)
        time.sleep(5)  # the services' first polls
        clients = local_clients(state.endpoint_url)
        ledger = Ledger(clients, StackNames("labelloop"), ("head", "keypoints"))
        key = "clips/bench/vtest.avi"
        began = time.perf_counter()
        clients.s3.upload_file(str(clip), "labelloop-uploads", key)
        while True:
            records = ledger.refresh({key})
            judged = [r for r in records if r.outcome(ledger.modalities) not in {"undecided", "deferred"}]
            if records and len(judged) == len(records):
                return len(records) / (time.perf_counter() - began), len(records)
            if time.perf_counter() - began > timeout_s:
                raise RuntimeError(f"{len(judged)} of {len(records)} frames judged after {timeout_s:.0f} s")
            time.sleep(POLL_S)
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
        stage = served(folder, frames, work, args.clients, args.repeats)
        through, judged = pipeline(clip, work)
    result = {
        "frames": len(frames),
        "in_process_frames_per_s": round(baseline, 2),
        "triton_frames_per_s": round(stage, 2),
        "pipeline_frames_per_s": round(through, 2),
        "pipeline_frames": judged,
        "triton_vs_in_process": round(stage / baseline, 2),
        "pipeline_vs_inference_stage": round(through / stage, 2),
        "cpu_cores": os.cpu_count(),
    }
    print(f"{len(frames)} real frames (vtest.avi at {SAMPLE_FPS} fps), yolo11n-pose at 640 px:")
    print(f"  in-process YOLO.predict      {baseline:6.2f} frames/s")
    print(f"  Triton (inference's path)    {stage:6.2f} frames/s   {stage / baseline:4.2f}x  (target >= 1.0x)")
    print(f"  whole pipeline (labelloop up) {through:5.2f} frames/s   {through / stage:4.2f}x of the inference stage "
          "(target >= 0.8x)")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
