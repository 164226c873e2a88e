"""Chaos along the labeling path: dispatch (gt-bridge) → portal → completion, on a real moto server.

Each object of the run meets one fault at its ``k``-th DynamoDB call, counted from the moment it
is sent for review, for every ``k`` a fault-free object needs (35 to 38 calls, measured; the count
varies with the pace): a throttle (botocore's retries spent) wherever the call comes from, or, where
the call comes from a portal pass, a sweep or a submission, a kill (the full profile does both at
every call). A kill: from that call on the "process" makes no AWS call at all (nothing after the
fault runs, not even a ``finally``'s clean-up) until the test starts a fresh one. gt-bridge's
handler runs on its worker's threads, so its faults are throttles (the chaos suite SIGKILLs the
real process).
Every object must end labelled exactly once: one human label, one ``LabelsCompleted``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError
from labelloop import AwsClients, EventPublisher, LabelsCompleted, StackNames
from labelloop.provision import ProvisionedStack
from labelloop_gt_bridge import handlers
from labelloop_gt_bridge.entrypoint import build_deps_on
from labelloop_portal.portal import Portal, TaskNotOpenError

from tests.chaos.conftest import FULL, ROWS, ScenarioRow
from tests.labeling import Loop, human_label, labeling_loop, review

pytestmark = [pytest.mark.chaos, pytest.mark.long]
CLIP = "chaos"
HOUR = 3600.0


class Killed(BaseException):
    """The process died at this call: nothing in a service catches it."""


@dataclass
class Faults:
    """Counts DynamoDB calls once armed and fails the ``nth`` (botocore's ``before-call`` hook, so
    paginators and transactions count too). A kill also fails every later call of the killed thread,
    of any service, until :meth:`restart`."""

    aws: AwsClients
    nth: int = 0
    kill: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)  # (thread, operation) since armed
    fired: tuple[str, str, str] | None = None  # (fault, thread, operation)
    _dead: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)

    @contextmanager
    def looking(self) -> Iterator[None]:
        """The test's own reads: neither counted nor failed."""
        self._local.looking = True
        try:
            yield
        finally:
            self._local.looking = False

    def __enter__(self) -> Faults:
        for client in self._clients():
            client.meta.events.register("before-call", self._before_call, unique_id="labelling-chaos")
        return self

    def __exit__(self, *_: object) -> None:
        for client in self._clients():
            client.meta.events.unregister("before-call", unique_id="labelling-chaos")

    def _clients(self) -> tuple[Any, ...]:
        return (self.aws.dynamodb, self.aws.sqs, self.aws.sns, self.aws.s3)

    def arm(self, nth: int, *, kill: bool) -> None:
        with self._lock:
            self.nth, self.kill, self.calls, self.fired = nth, kill, [], None

    def restart(self) -> None:
        """The killed process is replaced by a fresh one."""
        self._dead.discard(threading.get_ident())

    def _before_call(self, model: Any, **_: Any) -> None:
        thread = threading.current_thread()
        if getattr(self._local, "looking", False):
            return
        if thread.ident in self._dead:
            raise Killed(model.name)
        if model.service_model.service_name != "dynamodb":
            return
        with self._lock:
            self.calls.append((thread.name, model.name))
            if len(self.calls) != self.nth:
                return
            on_main = thread is threading.main_thread()
            self.fired = ("kill" if self.kill and on_main else "throttle", thread.name, model.name)
        if self.kill and on_main:
            self._dead.add(thread.ident)  # type: ignore[arg-type]
            raise Killed(model.name)
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "chaos"}}, model.name)


class Driver:
    """What runs in production beside gt-bridge's worker: the portal's passes, people's submissions,
    gt-bridge's sweep; each restarted, as the launcher or ECS would, when it was killed."""

    def __init__(self, loop: Loop, faults: Faults) -> None:
        self.loop, self.faults = loop, faults
        self.portal = self._fresh_portal()
        self.sweep_deps = loop.deps
        self.restarts = {"portal": 0, "sweep": 0}

    def _fresh_portal(self) -> Portal:
        return Portal(self.loop.aws, StackNames("test"), self.loop.clock, None, redeliver_after_s=0.5)

    def labelled(self, frame_no: int) -> bool:
        """gt-bridge marked the frame's object completed (its last write, after the label went out)."""
        with self.faults.looking():
            return any(
                item.status == "completed" and item.line["labelloop-frame"]["frame_no"] == frame_no
                for item in self.loop.deps.state.objects()
                if item.line["labelloop-frame"]["clip_id"] == CLIP
            )

    def step(self, frame_no: int) -> None:
        """One round of everything, each part surviving the others' faults."""
        self._run("portal", self.portal.tick)
        self._run("portal", lambda: self._submit(frame_no))
        self._run("sweep", lambda: handlers.sweep(self.sweep_deps))
        self.loop.clock.advance(HOUR)  # the sweep resends what waited longer than RESEND_AFTER_S

    def _submit(self, frame_no: int) -> None:
        with self.faults.looking():
            job = self.loop.job("head-l1")
        for task in self.portal.open_tasks(job.name):
            if task.line["labelloop-frame"]["frame_no"] == frame_no:
                # TaskNotOpenError: an earlier, interrupted submission decided it; its delivery follows.
                with contextlib.suppress(TaskNotOpenError):
                    self.portal.submit(job, task.object_id, human_label("head"), worker="chaos")

    def _run(self, part: str, work: Any) -> None:
        try:
            work()
        except ClientError:
            pass  # a throttle the part does not absorb itself: the next round retries, as its loop would
        except Killed:
            self.faults.restart()
            self.restarts[part] += 1
            if part == "portal":
                self.portal = self._fresh_portal()
            else:
                self.sweep_deps = build_deps_on(
                    self.loop.aws, self.loop.deps.settings, StackNames("test"), self.loop.clock
                )


def _fault_free_calls(faults: Faults, driver: Driver, publisher: EventPublisher, frame_no: int) -> list[str]:
    faults.arm(0, kill=False)
    publisher.publish(review(frame_no, clip=CLIP))
    _until_labelled(driver, frame_no)
    return [f"{thread.split('-')[0]}:{operation}" for thread, operation in faults.calls]


def _until_labelled(driver: Driver, frame_no: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not driver.labelled(frame_no):
        assert time.monotonic() < deadline, f"frame {frame_no} not labelled within {timeout_s} s"
        driver.step(frame_no)
        time.sleep(0.05)


@pytest.mark.timeout(1200)
def test_a_fault_at_every_dynamodb_call_of_the_labeling_path_loses_and_doubles_nothing(
    aws: AwsClients, stack: ProvisionedStack
) -> None:
    publisher = EventPublisher.for_stack(aws, StackNames("test"))
    with (
        labeling_loop(aws, stack, modalities=("head",), resend_after_s=HOUR, task_lifetime_s=30 * 24 * 3600) as loop,
        Faults(aws) as faults,
    ):
        driver = Driver(loop, faults)
        _fault_free_calls(faults, driver, publisher, 0)  # the job's first object: one-time work too
        path = _fault_free_calls(faults, driver, publisher, 1)
        job = loop.job("head-l1")
        # A killed portal's received messages come back after the job queue's visibility timeout.
        aws.sqs.set_queue_attributes(QueueUrl=job.queue_url, Attributes={"VisibilityTimeout": "2"})
        fired: list[tuple[str, str, str]] = []
        missed: list[int] = []  # positions an object finished before reaching
        frame_no = 1
        for nth in range(1, len(path) + 1):
            for kill in (False, True) if FULL else (nth % 2 == 0,):
                frame_no += 1
                faults.arm(nth, kill=kill)
                publisher.publish(review(frame_no, clip=CLIP))
                _until_labelled(driver, frame_no)
                if faults.fired is not None:
                    fired.append(faults.fired)
                else:
                    missed.append(nth)
        faults.arm(0, kill=False)
        time.sleep(2)  # any late duplicate would reach the trainer's queue by now
    # At least once on the wire, once in meaning: a handler retried after a throttle at its last write
    # publishes its LabelsCompleted again under the same event id, which the trainer's idempotency drops.
    labels = {(e.frame.frame_no, e.event_id) for e in loop.labels() if isinstance(e, LabelsCompleted)}
    per_frame = Counter(frame for frame, _ in labels)
    lost = sorted(set(range(frame_no + 1)) - set(per_frame))
    doubled = {n: c for n, c in per_frame.items() if c > 1}
    kills = [f for f in fired if f[0] == "kill"]
    ROWS.append(ScenarioRow("DynamoDB fault at each labeling call", f"{len(fired)} faults ({len(kills)} kills) along "
                            f"{len(path)} calls", lost=len(lost), duplicated=len(doubled)))  # fmt: skip
    assert not lost, f"frames that lost their label: {lost}"
    assert not doubled, f"frames labelled twice: {doubled}"
    stored = aws.s3.list_objects_v2(Bucket="test-data", Prefix=f"dataset/human/{CLIP}/")["Contents"]
    assert len(stored) == frame_no + 1  # one human label per frame (a fixed key per frame and level)
    lines = aws.s3.list_objects_v2(Bucket="test-data", Prefix=f"labeling/{job.name}/manifests/output/lines/")
    assert lines["KeyCount"] == frame_no + 1  # one output-manifest line per object, none lost or doubled
    items = loop.deps.state.objects()
    assert {item.status for item in items} == {"completed"}
    assert kills, "no fault hit a portal pass, a submission or a sweep"
    # Which call comes k-th shifts with the machine's pace (gt-bridge's threads and the test's passes
    # interleave), so no one operation is certain to be hit; the spread of them is.
    assert len({operation for _, _, operation in fired}) >= 4, fired
    assert {thread for _, thread, _ in fired} - {"MainThread"}, "no fault hit gt-bridge's handler"
    # How many calls an object needs shifts with the machine's pace: the test's polling rounds (a portal
    # pass, a submission, a sweep) repeat until gt-bridge's threads are done, so a fast run needs fewer
    # (CI measured 35 where a quiet machine measures 38). Only the tail of the path can be missed: the
    # dispatch, the task, the answer and the completion come first at any pace.
    assert not [nth for nth in missed if nth <= len(path) // 2], f"missed positions {missed} of {len(path)} calls"
    assert len(fired) >= (2 if FULL else 1) * (len(path) // 2), f"{len(fired)} faults along {len(path)} calls"
