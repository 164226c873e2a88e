"""Inference throughput: the models in-process vs the same models served by the real Triton.

    .venv/bin/python benchmarks/inference.py [--seconds 20] [--clients 4] [--models models/initial]

For each input size (160, 320) and batch size (1, 8), in one run:

* baseline: in-process onnxruntime, one process, the three models one after another on each
  batch (letterbox and YOLO decoding included) — the best a single worker can do without a server;
* service path: the inference service's own code (``TritonModels`` from ``--clients`` threads,
  async tritonclient, the three models' requests outstanding together) against the real Triton
  with dynamic batching, same pre- and post-processing.

Prints images/s for both, the ratio (target >= 0.9x), and p50/p95 latency per request. Client
and server share this machine's cores, as in the local stack.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
from labelloop import FrameRef
from labelloop.model_set import MODEL_SET, read_set_folder
from labelloop.rig import IN_CABIN_17
from labelloop.synth import render, sample_scene
from labelloop.triton_repository import write_model_set
from labelloop.visibility import Thresholds, decode_frame
from labelloop.yolo import FloatArray, Letterbox, batch
from labelloop_inference.triton import TritonModels
from labelloop_tools.local.triton import TritonServer

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.9


def postprocess(outputs: dict[str, FloatArray], fits: list[Letterbox]) -> int:
    """Decode every frame as the service does (the shared decode_frame); returns the detections."""
    found = 0
    for index, fit in enumerate(fits):
        frame = FrameRef(uri="s3://bench-frames/f.jpg", frame_no=index, timestamp_s=0.0, width=320, height=240)
        predictions = decode_frame(outputs, index, fit, frame, rig=IN_CABIN_17,
                                   thresholds=Thresholds())  # fmt: skip
        found += len(predictions.persons) + len(predictions.heads)
    return found


def measure(step: Callable[[], None], images_per_step: int, seconds: float, threads: int) -> dict[str, float]:
    """Run ``step`` from ``threads`` threads for ``seconds``; images/s and per-step latency."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def loop() -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            step()
            with lock:
                latencies.append(time.perf_counter() - started)

    step()  # warm-up: first call loads kernels and sessions
    began = time.perf_counter()
    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return {
        "images_per_s": len(latencies) * images_per_step / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=REPO / "models" / "initial")
    parser.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    parser.add_argument("--clients", type=int, default=4, help="service threads calling Triton (its concurrency)")
    parser.add_argument("--sizes", default="160,320")
    parser.add_argument("--batches", default="1,8")
    args = parser.parse_args()

    frames = [render(sample_scene(seed)).image for seed in range(8)]
    sessions = {
        name: onnxruntime.InferenceSession(str(args.models / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        for name in MODEL_SET
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="labelloop-bench-") as work:
        write_model_set(Path(work) / "repo", args.models, read_set_folder(args.models))
        with TritonServer(Path(work) / "repo", Path(work) / "workspace", explicit_model_control=True) as server:
            client = TritonModels(server.http_url)
            versions = dict.fromkeys(MODEL_SET, "1")
            for size in (int(s) for s in args.sizes.split(",")):
                for batch_size in (int(b) for b in args.batches.split(",")):
                    images = frames[:batch_size]

                    def in_process(images: list[np.ndarray] = images, size: int = size) -> None:
                        tensor, fits = batch(images, size)
                        postprocess({n: s.run(None, {"images": tensor})[0] for n, s in sessions.items()}, fits)

                    def through_triton(images: list[np.ndarray] = images, size: int = size) -> None:
                        tensor, fits = batch(images, size)
                        [outputs] = client.infer([tensor], versions)
                        postprocess(outputs, fits)

                    baseline = measure(in_process, batch_size, args.seconds, threads=1)
                    served = measure(through_triton, batch_size, args.seconds, threads=args.clients)
                    rows.append({"imgsz": size, "batch": batch_size, "in_process": baseline, "triton": served,
                                 "ratio": served["images_per_s"] / baseline["images_per_s"]})  # fmt: skip
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            client.close()

    print(f"\n{'imgsz':>5} {'batch':>5} | {'in-process img/s':>16} {'p50 ms':>7} {'p95 ms':>7} | "
          f"{'Triton img/s':>12} {'p50 ms':>7} {'p95 ms':>7} | {'ratio':>6}")  # fmt: skip
    for row in rows:
        a, b = row["in_process"], row["triton"]
        verdict = "ok" if row["ratio"] >= TARGET_RATIO else "MISSED"
        left = f"{a['images_per_s']:>16.1f} {a['p50_ms']:>7.1f} {a['p95_ms']:>7.1f}"
        right = f"{b['images_per_s']:>12.1f} {b['p50_ms']:>7.1f} {b['p95_ms']:>7.1f}"
        print(f"{row['imgsz']:>5} {row['batch']:>5} | {left} | {right} | {row['ratio']:>5.2f}x {verdict}")
    print(f"(three models per image; Triton through {args.clients} client threads with dynamic batching; "
          f"target ratio >= {TARGET_RATIO}x)")  # fmt: skip


if __name__ == "__main__":
    main()
