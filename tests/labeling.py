"""The labeling loop the labeling tests drive: gt-bridge as a real worker on its queue, the portal
ticked by the test, a clock the test moves (days of a streaming job pass in seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from labelloop import (
    AwsClients,
    HumanReviewRequested,
    LabelsCompleted,
    ServiceDefinition,
    StackNames,
    build_worker,
)
from labelloop.clock import ManualClock
from labelloop.portal_api import get_job
from labelloop.provision import ProvisionedStack
from labelloop_gt_bridge import handlers
from labelloop_gt_bridge.deps import Deps
from labelloop_gt_bridge.entrypoint import build_deps_on
from labelloop_gt_bridge.settings import GtBridgeSettings
from labelloop_portal.annotator import SimulatedAnnotator
from labelloop_portal.label_studio import LabelStudioFront
from labelloop_portal.portal import Portal

from tests.helpers import dead_letter_reasons, drain, eventually, worker_running
from tests.predictions import frame

VERSIONS: dict[str, str] = {"pose_main": "1", "pose_visible": "1", "head": "1"}


@dataclass
class Loop:
    aws: AwsClients
    stack: ProvisionedStack
    clock: ManualClock
    deps: Deps
    portal: Portal
    worker: Any

    def job(self, key: str) -> Any:
        item = self.deps.state.job(key)
        assert item is not None, f"gt-bridge has no job {key}"
        found = get_job(self.aws.dynamodb, "test-portal", item.job_name)
        assert found is not None, f"the portal has no job {item.job_name}"
        return found

    def settle(self, handled: int) -> None:
        """Wait until gt-bridge has handled ``handled`` messages in all."""
        eventually(lambda: self.worker.counts["handled"] >= handled, timeout_s=60)

    def labels(self) -> list[LabelsCompleted]:
        return [e for e in drain(self.aws, self.stack.queue_urls["trainer"]) if isinstance(e, LabelsCompleted)]


@contextmanager
def labeling_loop(aws: AwsClients, stack: ProvisionedStack, annotator: SimulatedAnnotator | None = None,
                  dead_letters: int = 0, label_studio: LabelStudioFront | None = None,
                  **settings: Any) -> Iterator[Loop]:  # fmt: skip
    clock = ManualClock()
    config = GtBridgeSettings(**({"stack": "test", "poll_wait_s": 1, "concurrency": 8} | settings))
    deps = build_deps_on(aws, config, StackNames("test"), clock)
    for spec in deps.jobs.specs.values():
        deps.jobs.ensure(spec, clock.now())
    portal = Portal(aws, StackNames("test"), clock, annotator, label_studio=label_studio)
    portal.tick()  # the portal opens the jobs' queues: InProgress
    service = ServiceDefinition(
        name="gt-bridge", settings=GtBridgeSettings, build_deps=lambda *_: deps, handlers=handlers.HANDLERS
    )
    with worker_running(build_worker(service, config, aws)) as worker:
        yield Loop(aws, stack, clock, deps, portal, worker)
    if worker.counts["dead_lettered"] != dead_letters:
        reasons = dead_letter_reasons(aws, stack, "gt-bridge")
        raise AssertionError(f"gt-bridge dead-lettered {worker.counts['dead_lettered']}, not {dead_letters}: {reasons}")


def review(frame_no: int, clip: str = "clip-1") -> HumanReviewRequested:
    return HumanReviewRequested(
        correlation_id=clip,
        clip_id=clip,
        predictions=frame(frame_no, clip=clip, points=[(0.7, 0.5)] * 5),
        score=0.3,
        strategy="least_confidence",
        model_versions=VERSIONS,  # type: ignore[arg-type]
        reason="uncertain",
        track_attributes={"glasses": ["no", "yes"]},
    )


def human_label(modality: str) -> dict[str, Any]:
    if modality == "head":
        return {"head": {"image_size": [{"width": 640, "height": 480, "depth": 3}],
                         "annotations": [{"class_id": 0, "left": 301, "top": 81, "width": 58, "height": 69}]},
                "head-metadata": {"type": "groundtruth/object-detection", "human-annotated": "yes"}}  # fmt: skip
    points = [{"label": "nose", "x": 210.0, "y": 150.0, "visibility": "occluded", "person": 0}]
    return {modality: {"crowdKeypoint": {"inputImageProperties": {"height": 480, "width": 640}, "keypoints": points}},
            f"{modality}-metadata": {"type": "groundTruth/custom", "human-annotated": "yes"}}  # fmt: skip
