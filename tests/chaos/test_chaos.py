"""Reliability on the real embedded stack: duplicates, kills, outages and bad input.

Each scenario uploads its own clips and counts, from what the services wrote (the demo's
ledger), frames lost (no final fate) and duplicated (judged or sent to people twice).
Target: lost 0, duplicated 0; bad input ends in a dead-letter queue with a reason, and no
service crash-loops.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import unquote_plus

import cv2
import numpy as np
import pytest
from labelloop import dlq
from labelloop.dataset import effective_lines
from labelloop.synth.clips import write_clip
from labelloop_tools.demo.ledger import Ledger
from labelloop_tools.local.stack import LOCAL_AWS_ENV

from tests.chaos.conftest import BAD_INPUT, FULL, ROWS, ChaosStack, ScenarioRow, expected_frames, restarts
from tests.helpers import eventually, payload

pytestmark = [pytest.mark.chaos, pytest.mark.long]

CLIPS = 3 if FULL else 2


def books(ledger: Ledger) -> tuple[int, int]:
    """(lost, duplicated) frames of a settled ledger."""
    lost = sum(r.outcome(ledger.modalities) not in ("auto", "human", "control") for r in ledger.frames.values())
    return lost, sum(r.duplicated for r in ledger.frames.values())


def new_letters(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, list[str]]:
    return {s: list((Counter(after[s]) - Counter(before.get(s, []))).elements()) for s in after}


class Duplicator:
    """Every message on every topic delivered a second time, 0.3-4 s later: out of order.

    A tap queue subscribed (with SNS envelopes) to every topic tells which topic each message
    came from; the copy goes to every queue that topic feeds, exactly as SNS would deliver it.
    """

    def __init__(self, chaos: ChaosStack) -> None:
        self._sqs, sns = chaos.clients.sqs, chaos.clients.sns
        self._tap = self._sqs.create_queue(QueueName="chaos-tap")["QueueUrl"]
        tap_arn = self._sqs.get_queue_attributes(QueueUrl=self._tap, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.routes: dict[str, list[str]] = {}
        for topic in [t["TopicArn"] for t in sns.list_topics()["Topics"]]:
            queues = [s["Endpoint"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
                      if s["Protocol"] == "sqs" and s["Endpoint"] != tap_arn]  # fmt: skip
            self.routes[topic] = [
                self._sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"] for arn in queues
            ]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=tap_arn)
        self.copied = 0
        self._stop = threading.Event()
        self._timers: list[threading.Timer] = []
        self._rng = random.Random(5)  # noqa: S311 - test jitter
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._sqs.receive_message(QueueUrl=self._tap, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in batch.get("Messages", []):
                envelope = json.loads(message["Body"])
                for queue_url in self.routes.get(envelope["TopicArn"], []):
                    timer = threading.Timer(
                        self._rng.uniform(0.3, 4.0), self._deliver, (queue_url, envelope["Message"])
                    )
                    timer.start()
                    self._timers.append(timer)
                self._sqs.delete_message(QueueUrl=self._tap, ReceiptHandle=message["ReceiptHandle"])

    def _deliver(self, queue_url: str, body: str) -> None:
        self._sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        self.copied += 1

    def stop(self) -> None:
        """Wait for pending copies, then stop tapping."""
        time.sleep(5)
        self._stop.set()
        self._thread.join(timeout=10)
        for timer in self._timers:
            timer.join()


def run_scenario(
    chaos: ChaosStack, name: str, injected: str, seed: int, inject: Callable[[], None], *, timeout_s: float = 240
) -> Ledger:
    """Upload clips, inject the fault, wait for every frame's fate; record and check the books."""
    before = chaos.dead_letters()
    keys = chaos.upload_clips(CLIPS, seed=seed)
    inject()
    ledger = chaos.settle(keys, expected_frames(CLIPS), timeout_s=timeout_s)
    lost, duplicated = books(ledger)
    lost += expected_frames(CLIPS) - len(ledger.frames)
    ROWS.append(ScenarioRow(name, injected, lost, duplicated, new_letters(before, chaos.dead_letters())))
    assert (lost, duplicated) == (0, 0), f"{name}: {lost} lost, {duplicated} duplicated"
    return ledger


def test_every_event_delivered_twice_and_out_of_order(chaos: ChaosStack) -> None:
    """No duplicate frames, predictions, tasks or labels, and every label counted once by the trainer."""
    duplicator = Duplicator(chaos)
    counted_before = chaos.registry.labels_counted()
    try:
        ledger = run_scenario(chaos, "duplicate + out-of-order", "every message on every topic twice", 31,
                              lambda: None)  # fmt: skip
    finally:
        duplicator.stop()
    assert duplicator.copied > 0
    people = sum(r.outcome(ledger.modalities) in ("human", "control") for r in ledger.frames.values())
    assert people > 0
    # Each labeled frame is one LabelsCompleted per modality; a duplicate counted twice would train early.
    eventually(lambda: chaos.registry.labels_counted() - counted_before >= 2 * people, timeout_s=30)
    time.sleep(3)  # any late duplicate would land now
    assert chaos.registry.labels_counted() - counted_before == 2 * people
    assert len(ledger.clips_of({r.upload_key for r in ledger.frames.values()})) == CLIPS  # one clip per upload


@pytest.mark.timeout(600)
def test_each_service_sigkilled_in_turn_mid_batch(chaos: ChaosStack) -> None:
    """The launcher restarts them; messages in flight come back after their visibility timeout."""
    before = restarts(chaos.log)
    order = ("ingest", "inference", "selector", "gt-bridge", "portal", "trainer")
    mid_message: list[str] = []

    def kill_each() -> None:
        for service in order:
            # Mid-batch: killed while its queue shows a message in flight (the portal and the
            # trainer have none of their own in the topology: killed while the clips flow).
            if service in ("ingest", "inference", "selector", "gt-bridge"):
                deadline = time.monotonic() + (150 if FULL else 15)
                while time.monotonic() < deadline and not chaos.in_flight(service):
                    time.sleep(0.05)
                if chaos.in_flight(service):
                    mid_message.append(service)
            else:
                time.sleep(1.0)
            os.kill(chaos.pid(service), signal.SIGKILL)

    # A message in flight at a kill waits out its queue's visibility timeout (15 s on this stack) before it is
    # redelivered, once per killed stage.
    run_scenario(chaos, "SIGKILL each service mid-batch", "kill -9 each in turn", 32, kill_each, timeout_s=420)
    ROWS[-1].injected = f"kill -9 each; mid-message: {', '.join(mid_message) or 'none'}"
    after = restarts(chaos.log)
    assert all(after.get(s, 0) - before.get(s, 0) == 1 for s in order), after  # restarted once: no crash loop
    assert mid_message, "no service was killed with a message in flight"


def _paused(pid: int, seconds: float) -> None:
    os.kill(pid, signal.SIGSTOP)
    time.sleep(seconds)
    os.kill(pid, signal.SIGCONT)


def test_the_emulator_and_triton_unreachable_for_a_while(chaos: ChaosStack) -> None:
    """Every AWS call hangs for a while (moto paused), then Triton does; the work resumes."""
    seconds = 20 if FULL else 8

    def outages() -> None:
        time.sleep(1)
        _paused(chaos.child_pid("-m labelloop_tools.local.moto_main"), seconds)
        _paused(chaos.child_pid("bin/tritonserver"), seconds)

    before = restarts(chaos.log)
    run_scenario(chaos, "emulator + Triton outage", f"SIGSTOP moto {seconds}s, then Triton {seconds}s", 33, outages)
    assert restarts(chaos.log) == before


def _jpeg(width: int, height: int) -> bytes:
    return cv2.imencode(".png", np.zeros((height, width, 3), np.uint8))[1].tobytes()


def test_bad_input_goes_to_a_dead_letter_queue_with_a_reason(chaos: ChaosStack) -> None:
    """22 kinds of bad input, next to good clips that must still flow; no service restarts."""
    s3, sqs = chaos.clients.s3, chaos.clients.sqs
    uploads, data = chaos.names.physical("uploads"), chaos.names.physical("data")
    clip = chaos.state_dir / "clips" / "valid-source.mp4"
    write_clip(clip, 7, seconds=1.0)
    valid = clip.read_bytes()

    def stack_names(text: str) -> str:
        return text.replace("labelloop-", "chaos-")

    def frames_extracted_for_missing_frame() -> str:
        body = json.loads(stack_names(payload("raw_frames_extracted.json")))
        body["frames"] = [dict(body["frames"][0], uri=f"s3://{data}/frames/nowhere/000001.jpg")]
        return json.dumps(body)

    def wrong_shaped_predictions() -> str:
        body = json.loads(stack_names(payload("predictions_ready.json")))
        body["predictions"][0]["persons"][0]["keypoints"][0]["main_confidence"] = 7.5  # not a probability
        return json.dumps(body)

    def from_the_future() -> str:
        body = json.loads(stack_names(payload("labels_completed.json")))
        return json.dumps(dict(body, occurred_at="2099-01-01T00:00:00Z"))

    def bucket_outside_config() -> str:
        body = json.loads(payload("s3_object_created.json"))
        body["Records"][0]["s3"]["bucket"]["name"] = "someone-elses-bucket"
        return json.dumps(body)

    portal_line_missing_fields = json.dumps({"source-ref": f"s3://{data}/frames/x/000001.jpg"})
    output_for_unknown_object = json.dumps({
        "source-ref": f"s3://{data}/frames/x/000001.jpg", "dataset-objectid-attribute-name": "labelloop-dedup-id",
        "labelloop-dedup-id": "feedface", "labelloop-object": f"obj#s3://{data}/frames/x/000001.jpg#head#l1",
        "head": {"annotations": []}, "head-metadata": {"human-annotated": "yes"},
    })  # fmt: skip
    objects: dict[str, tuple[str, bytes]] = {
        "corrupt video": ("clips/corrupt.mp4", os.urandom(4096)),
        "empty video": ("clips/empty.mp4", b""),
        "mislabelled media (text as .mp4)": ("clips/notes.mp4", b"meeting notes, not a video\n" * 50),
        "truncated video": ("clips/truncated.mp4", valid[: len(valid) // 3]),
        "corrupt image": ("images/broken.jpg", b"\xff\xd8\xff" + os.urandom(2048)),
        "huge image (45 Mpx)": ("images/huge.png", _jpeg(9000, 5000)),
        "unsupported type": ("clips/readme.txt", b"hello"),
        "key outside the prefixes": ("elsewhere/clip.mp4", valid),
        "path traversal key": ("clips/../../etc/passwd.mp4", valid),
    }
    bodies: dict[str, tuple[str, str]] = {
        "not JSON": ("ingest", payload("not_json.txt")),
        "no event type": ("selector", payload("no_type.json")),
        "unknown event type": ("inference", payload("unknown_type.json")),
        "unknown event version": ("inference", payload("unknown_version.json")),
        "missing fields": ("inference", payload("invalid_frames_extracted.json")),
        "S3 event from another bucket": ("ingest", bucket_outside_config()),
        "oversize junk (250 KB)": ("selector", json.dumps(["x" * 1000] * 250)),
        "frame that does not exist": ("inference", frames_extracted_for_missing_frame()),
        "wrong-shaped model output": ("selector", wrong_shaped_predictions()),
        "portal output missing fields": ("gt-bridge", portal_line_missing_fields),
        "output for an object never sent": ("gt-bridge", output_for_unknown_object),
        "clock skew (event from 2099)": ("trainer", from_the_future()),
    }
    expected = Counter({"ingest": len(objects)}) + Counter(service for service, _ in bodies.values())

    def inject() -> None:
        for key, body in objects.values():
            s3.put_object(Bucket=uploads, Key=key, Body=body)
        for service, body in bodies.values():
            sqs.send_message(QueueUrl=chaos.queue_url(service), MessageBody=body)

    before_letters = chaos.dead_letters()
    before_restarts = restarts(chaos.log)
    run_scenario(chaos, "bad input", f"{len(objects) + len(bodies) + 1} kinds, next to good clips", 34, inject)
    arrived = eventually(
        lambda: (
            (got := new_letters(before_letters, chaos.dead_letters()))
            and all(len(got[s]) >= n for s, n in expected.items())
            and got
        ),
        timeout_s=120,
        interval_s=2,
    )
    assert {s: len(r) for s, r in arrived.items() if r} == dict(expected)
    ROWS[-1].dead_lettered = arrived
    # Each kind, found by its own body in the DLQ it was meant for, with a reason that says what is wrong.
    letters = chaos.letters()
    for kind, (key, _) in objects.items():
        [letter] = [x for x in letters["ingest"] if _s3_key(x.body) == key]
        BAD_INPUT[kind] = ("ingest", letter.reason)
    for kind, (service, body) in bodies.items():
        [letter] = [x for x in letters[service] if x.body == body]
        BAD_INPUT[kind] = (service, letter.reason)
    BAD_INPUT["portal input that is not a manifest line"] = ("portal job", portal_dead_letter(chaos))
    assert all(reason.strip() for _, reason in BAD_INPUT.values())
    assert len(BAD_INPUT) >= 20
    assert restarts(chaos.log) == before_restarts  # no crash loop


def portal_dead_letter(chaos: ChaosStack) -> str:
    """The portal's own job queues (made per job, as Ground Truth's) dead-letter too: the reason."""
    sqs = chaos.clients.sqs
    job_topic = f"arn:aws:sns:us-east-1:123456789012:{chaos.names.physical('labeling-head-l1')}-input"
    chaos.clients.sns.publish(TopicArn=job_topic, Message="[not, a manifest line")
    portal_dlqs = [q for q in sqs.list_queues(QueueNamePrefix="chaos-portal-")["QueueUrls"] if q.endswith("-dlq")]
    return eventually(lambda: [x for q in portal_dlqs for x in dlq.peek(sqs, q, 10)], timeout_s=30)[0].reason


def test_a_dead_letter_replays_with_labelloop_dlq_redrive_after_the_fix(chaos: ChaosStack) -> None:
    """A frame deleted before inference dead-letters; once it is back, `labelloop dlq redrive` replays it."""
    s3, sqs, data = chaos.clients.s3, chaos.clients.sqs, chaos.names.physical("data")
    body = json.loads(payload("raw_frames_extracted.json").replace("labelloop-", "chaos-"))
    missing = f"s3://{data}/frames/restored/000001.jpg"
    body["frames"] = [dict(body["frames"][0], uri=missing)]
    sqs.send_message(QueueUrl=chaos.queue_url("inference"), MessageBody=json.dumps(body))
    eventually(lambda: any("restored" in r for r in chaos.dead_letters()["inference"]), timeout_s=60, interval_s=1)
    frame = cv2.imencode(".jpg", np.full((240, 320, 3), 90, np.uint8))[1].tobytes()
    s3.put_object(Bucket=data, Key=missing.removeprefix(f"s3://{data}/"), Body=frame)  # the fix
    redrive = subprocess.run(
        [sys.executable, "-m", "labelloop_tools", "dlq", "redrive", "inference", "--endpoint-url",
         chaos.state.endpoint_url, "--stack", chaos.names.stack],
        env={**os.environ, **LOCAL_AWS_ENV}, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "moved" in redrive.stdout
    eventually(lambda: missing in effective_lines(s3, data), timeout_s=60, interval_s=1)  # judged, then labeled
    assert not any("restored" in r for r in chaos.dead_letters()["inference"])


def _s3_key(body: str) -> str | None:
    """The object key of a dead-lettered S3 notification (URL-decoded as S3 encodes it)."""
    try:
        return unquote_plus(json.loads(body)["Records"][0]["s3"]["object"]["key"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
