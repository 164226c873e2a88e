"""The simulated annotator: answers tasks from hidden ground truth, with delay, mistakes and abandonment.

Hidden truth (a FramePredictions with the true boxes and points) is where
:mod:`labelloop.truth_layout` says: the frame's own, or its synthetic clip's for that source frame
(found through ingest's frame manifest); only this annotator and the evaluator read it. A frame
with no truth is answered with the model's pre-annotation, as a tired person would, and the
answer says so in its metadata.
Every choice is seeded by the task's dedup id, so a run is reproducible.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from labelloop import FramePredictions
from labelloop.groundtruth import PREFILL_ATTRIBUTE
from labelloop.manifest import augmented_manifest_line
from labelloop.portal_api import PortalJob
from labelloop.truth_layout import TruthReader

from labelloop_portal.labels import output_label

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class Plan:
    abandon: bool
    delay_s: float


class SimulatedAnnotator:
    def __init__(self, s3: S3Client, *, delay_s: float, error_rate: float, abandon_rate: float, seed: int) -> None:
        self._s3 = s3
        self._delay_s = delay_s
        self._error_rate = error_rate
        self._abandon_rate = abandon_rate
        self._seed = seed
        self._truths = TruthReader(s3)

    def _rng(self, task_id: str, purpose: str) -> random.Random:
        digest = hashlib.sha256(f"{self._seed}:{purpose}:{task_id}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - simulation, not security

    def plan(self, task_id: str) -> Plan:
        rng = self._rng(task_id, "plan")
        return Plan(abandon=rng.random() < self._abandon_rate, delay_s=self._delay_s * rng.uniform(0.5, 1.5))

    def answer(self, task_id: str, line: dict[str, Any], job: PortalJob, now: float) -> dict[str, Any]:
        """``{<LAN>: ..., <LAN>-metadata: ...}``: the label this annotator gives the task."""
        truth = self._truths.truth(line["source-ref"])
        metadata_extra: dict[str, Any] = {}
        if truth is None:
            label = dict((line.get(PREFILL_ATTRIBUTE) or line).get(job.modality) or {})
            metadata_extra["labelloop-answer-source"] = "pre-annotation"
        else:
            if self._rng(task_id, "error").random() < self._error_rate:
                truth = _mistake(truth, self._rng(task_id, "mistake"))
                metadata_extra["labelloop-simulated-error"] = True
            created = datetime.fromtimestamp(now, UTC)
            full = augmented_manifest_line(
                truth, human_annotated=True, job_name=f"labeling-job/{job.name}", created=created
            )
            label = full[job.modality]
        return output_label(job, label, now, line, **metadata_extra)


def _mistake(truth: FramePredictions, rng: random.Random) -> FramePredictions:
    """A plausible slip: a shifted head box, or a keypoint misplaced and its visibility flipped."""
    width = truth.frame.width
    heads = [h.model_copy(update={"left": h.left + 0.05 * width}) if i == 0 else h for i, h in enumerate(truth.heads)]
    persons = []
    for person in truth.persons:
        points = list(person.keypoints)
        if points:
            index = rng.randrange(len(points))
            flipped = "occluded" if points[index].visibility == "visible" else "visible"
            points[index] = points[index].model_copy(update={"x": points[index].x + 0.1 * width, "visibility": flipped})
        persons.append(person.model_copy(update={"keypoints": points}))
    return truth.model_copy(update={"heads": heads, "persons": persons})
