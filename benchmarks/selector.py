"""Selector cost: our own CPU per message, separately from the emulator-bound rate.

    .venv/bin/python benchmarks/selector.py [--messages 2000] [--frames 16] [--service-messages 300]

1. Core (no I/O): for each SQS body of a PredictionsReady (``--frames`` frames, one head and one
   17-point person each; 85% of frames confident, as once a model is decent): parse, score,
   route, near-duplicate check, build the manifest lines and events, serialise them. CPU time
   (process_time) per message, with parsing alone as the
   baseline measured in the same run. Target: <= 1 ms per message, with the garbage-collector
   settings every service runs with (labelloop.gc_tuning; CPython's defaults printed too).
2. Service: the real worker against a moto_server process (DynamoDB conditional and batch
   writes, S3 puts, SNS publishes, SQS receives and deletes): messages per second, this process's
   CPU per message (boto3 included; target <= 15 ms) and the AWS calls a message costs. moto
   answers ~250 calls/s whatever we do, so this rate is the emulator's ceiling, not ours.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import structlog
from pydantic_core import to_json

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.predictions: the crafted-prediction builder

from labelloop import (  # noqa: E402
    EventPublisher,
    PredictionsReady,
    StackNames,
    build_worker,
    deterministic_id,
    parse_body,
)
from labelloop.gc_tuning import tune_for_throughput  # noqa: E402
from labelloop.provision import provision  # noqa: E402
from labelloop_selector.entrypoint import SERVICE  # noqa: E402
from labelloop_selector.handlers import Outputs, judge, manifest_key  # noqa: E402
from labelloop_selector.policy import Policy, frame_key, version_tag  # noqa: E402
from labelloop_selector.scoring import ScoringContext, load_scorer  # noqa: E402
from labelloop_selector.settings import SelectorSettings  # noqa: E402
from labelloop_tools.local import MotoServer  # noqa: E402
from labelloop_tools.local.stack import local_clients  # noqa: E402

from tests.helpers import worker_running  # noqa: E402
from tests.predictions import frame  # noqa: E402

TARGET_MS = 1.0
SERVICE_TARGET_MS = 15.0


def bodies(count: int, frames: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    messages = []
    for m in range(count):
        clip = f"clip-{m:05d}"
        # A realistic mix once a model is decent: most frames confident, some doubtful.
        low = [0.9 if rng.random() < 0.85 else 0.3 for _ in range(frames)]
        batch = [
            frame(
                n,
                clip=clip,
                head=rng.uniform(low[n], 1.0),
                points=[(rng.uniform(low[n], 1.0), rng.uniform(low[n], 1.0)) for _ in range(17)],
                shift=rng.uniform(0, 200),
            )
            for n in range(frames)
        ]
        event = PredictionsReady(
            correlation_id=clip,
            clip_id=clip,
            predictions=batch,
            model_versions={"pose_main": "1", "pose_visible": "1", "head": "1"},
        )
        messages.append(event.model_dump_json())
    return messages


def core_cpu(messages: list[str]) -> tuple[float, float]:
    """(parse-only, full core) CPU seconds per message."""
    settings = SelectorSettings()
    deps: Any = SimpleNamespace(
        settings=settings,
        scorer=load_scorer(settings.strategy),
        context=ScoringContext(),
        policy=Policy(control_fraction=0.05),
        data_bucket="labelloop-data",
    )
    started = time.process_time()
    for body in messages:
        parse_body(body)
    parse_only = (time.process_time() - started) / len(messages)

    started = time.process_time()
    for body in messages:
        [event] = parse_body(body)
        if not isinstance(event, PredictionsReady):
            raise TypeError(type(event))
        versions = version_tag(event.model_versions)
        keys = [frame_key(p.frame.uri, versions) for p in event.predictions]
        frame_nos = [p.frame.frame_no for p in event.predictions]
        outputs = Outputs(manifest_key(event.clip_id, deterministic_id(*keys), frame_nos))
        last = None
        for key, predictions in zip(keys, event.predictions, strict=True):
            decision, sent = judge(predictions, versions, settings.threshold, last, deps)
            last = sent or last
            outputs.add(event, predictions, key, decision, deps)
        b"\n".join(outputs.manifest_lines)
        for document in outputs.documents.values():
            to_json(document)
        for produced in outputs.all_events(event, deps):
            produced.model_dump_json()
    full = (time.process_time() - started) / len(messages)
    return parse_only, full


def service_rate(messages: list[str]) -> tuple[float, float, Counter[str]]:
    """(messages per second, this process's CPU seconds per message, the worker's AWS calls by
    operation) through moto."""
    with MotoServer() as moto:
        clients = local_clients(moto.url)
        names = StackNames("bench")
        stack = provision(clients, names)
        publisher = EventPublisher.for_stack(clients, names)
        for body in messages:
            [event] = parse_body(body)
            if not isinstance(event, PredictionsReady):
                raise TypeError(type(event))
            publisher.publish(event)
        settings = SelectorSettings(stack="bench", poll_wait_s=1, concurrency=8, log_level="WARNING")
        worker = build_worker(SERVICE, settings, clients)
        calls: Counter[str] = Counter()
        for client in (clients.dynamodb, clients.s3, clients.sns, clients.sqs):
            client.meta.events.register("before-call", lambda model, **_: calls.update((model.name,)))
        cpu, wall = time.process_time(), time.perf_counter()
        with worker_running(worker):
            while worker.counts["handled"] + worker.counts["dead_lettered"] < len(messages):
                time.sleep(0.05)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if worker.counts["dead_lettered"]:
            sys.exit(f"{worker.counts['dead_lettered']} messages were dead-lettered; see the log")
        del stack
    return len(messages) / wall, cpu / len(messages), calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages for the CPU measurement")
    parser.add_argument("--frames", type=int, default=16, help="frames per PredictionsReady")
    parser.add_argument("--service-messages", type=int, default=300, help="messages through moto (0 skips)")
    args = parser.parse_args()

    messages = bodies(args.messages, args.frames)
    _, untuned = core_cpu(messages)
    tune_for_throughput()  # as run_service does before its worker starts
    parse_only, full = core_cpu(messages)
    verdict = "ok" if full * 1e3 <= TARGET_MS else "MISSED"
    print(f"core, {args.messages} messages x {args.frames} frames (1 head + 17 keypoints each), CPU per message:")
    print(f"  parse only (baseline)  {parse_only * 1e3:7.3f} ms")
    print(f"  full selector core     {full * 1e3:7.3f} ms  = {full / parse_only:.2f}x parsing, "
          f"{full / args.frames * 1e6:.0f} us per frame   target <= {TARGET_MS} ms: {verdict}")  # fmt: skip
    print(f"  (with CPython's default garbage-collector settings: {untuned * 1e3:.3f} ms)")
    if args.service_messages:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings only
        rate, cpu, calls = service_rate(bodies(args.service_messages, args.frames, seed=1))
        service_verdict = "ok" if cpu * 1e3 <= SERVICE_TARGET_MS else "MISSED"
        verdict = "ok" if verdict == service_verdict == "ok" else "MISSED"
        per_message = ", ".join(f"{n / args.service_messages:.2f} {op}" for op, n in calls.most_common())
        print(f"service through moto, {args.service_messages} messages (emulator-bound):")
        print(f"  {rate:7.1f} messages/s = {rate * args.frames:.0f} frames/s; "
              f"this process's CPU {cpu * 1e3:.2f} ms per message (boto3 included)   "
              f"target <= {SERVICE_TARGET_MS:.0f} ms: {service_verdict}")  # fmt: skip
        print(f"  AWS calls per message: {calls.total() / args.service_messages:.2f} ({per_message})")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
