"""The SageMaker Ground Truth streaming-job protocol, as gt-bridge and the portal both speak it.

Formats follow ../shared/design/GROUND_TRUTH_PROTOCOL.md and are not invented here:

* input: one manifest JSON line per data object on the job's input SNS topic, with
  ``dataset-objectid-attribute-name`` naming the key whose value is the dedup id;
* output: one output-manifest line per labeled object on the job's output topic (the input's
  keys, plus ``<LabelAttributeName>`` and ``<LabelAttributeName>-metadata``); an expired task's
  metadata carries ``failure-reason: "ClientError: Annotation tasks expired"``;
* a level-2 (adjustment) job's input carries the level-1 label attribute and its metadata.

Our own keys ride along in the line (the protocol passes unknown input keys through to the
output): ``labelloop-object`` (which frame and modality), ``labelloop-frame`` (its FrameRef) and
``labelloop-prefill`` (the model's predictions, to pre-annotate the task).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from labelloop.events import Modality, deterministic_id

DEDUP_KEY_ATTRIBUTE = "dataset-objectid-attribute-name"
DEDUP_ATTRIBUTE = "labelloop-dedup-id"
OBJECT_ATTRIBUTE = "labelloop-object"
FRAME_ATTRIBUTE = "labelloop-frame"
PREFILL_ATTRIBUTE = "labelloop-prefill"
JUDGED_KEY = "judged"
"""Under FRAME_ATTRIBUTE: what the selector said of the frame (score, model_versions, audit)."""
EXPIRED_FAILURE = "ClientError: Annotation tasks expired"
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
DEDUP_KEY_PATTERN = re.compile(r"^[$a-zA-Z0-9](-*[a-zA-Z0-9])*$")
Level = Literal[1, 2]
JobStatus = Literal["Initializing", "InProgress", "Completed", "Failed", "Stopping", "Stopped"]


@dataclass(frozen=True)
class JobSpec:
    """One streaming job of the configured set: a modality at a level."""

    modality: Modality
    level: Level

    @property
    def label_attribute(self) -> str:
        """``head``/``keypoints`` at level 1, ``<modality>-adjusted`` at level 2 (never ending in -metadata)."""
        return self.modality if self.level == 1 else f"{self.modality}-adjusted"

    @property
    def key(self) -> str:
        """Stable identity across job replacements: ``keypoints-l2``."""
        return f"{self.modality}-l{self.level}"

    def job_name(self, stack: str, incarnation: int) -> str:
        """The job's name; a replacement (after Stopped/Failed) gets the next incarnation."""
        name = f"{stack}-{self.key}-{incarnation}"
        if not JOB_NAME_PATTERN.match(name):
            raise ValueError(f"job name {name!r} breaks Ground Truth's naming rule")
        return name


def creation_date(epoch_s: float) -> str:
    """A time as Ground Truth writes it in output metadata and worker responses (UTC, seconds)."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def dedup_id(object_key: str, generation: int) -> str:
    """The dedup id of one send generation of an object: the same for resends within a
    generation (so a job never shows the object twice), new after an expiry."""
    return deterministic_id("gt-object", object_key, generation)


def input_line(
    *,
    source_ref: str,
    object_key: str,
    generation: int,
    frame: dict[str, Any],
    prefill: dict[str, Any] | None = None,
    level1_labels: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An input-manifest line with our dedup attribute, and the level-1 label when adjusting."""
    line: dict[str, Any] = {
        "source-ref": source_ref,
        DEDUP_KEY_ATTRIBUTE: DEDUP_ATTRIBUTE,
        DEDUP_ATTRIBUTE: dedup_id(object_key, generation),
        OBJECT_ATTRIBUTE: object_key,
        FRAME_ATTRIBUTE: frame,
    }
    if prefill is not None:
        line[PREFILL_ATTRIBUTE] = prefill
    if level1_labels is not None:
        line.update(level1_labels)
    return line


def line_dedup_id(line: dict[str, Any]) -> str | None:
    """The dedup id of an input or output line (None: the SNS MessageId would be used)."""
    key = line.get(DEDUP_KEY_ATTRIBUTE)
    value = line.get(key) if isinstance(key, str) else None
    return value if isinstance(value, str) else None


def label_of(line: dict[str, Any], label_attribute: str) -> dict[str, Any]:
    """``{<LAN>: ..., <LAN>-metadata: ...}`` of an output line (what a level-2 input must carry)."""
    return {key: line[key] for key in (label_attribute, f"{label_attribute}-metadata") if key in line}


def judgement(line: dict[str, Any]) -> dict[str, Any]:
    """What the selector said of a line's frame (``score``, ``model_versions``, ``audit``); empty for a
    line that did not come through it (an import, an older gt-bridge)."""
    return (line.get(FRAME_ATTRIBUTE) or {}).get(JUDGED_KEY) or {}


def failure_reason(line: dict[str, Any], label_attribute: str) -> str | None:
    """The ``failure-reason`` of an output line (an expiry, a rejected task, a worker's error), or None."""
    metadata = line.get(f"{label_attribute}-metadata") or {}
    reason = metadata.get("failure-reason") if isinstance(metadata, dict) else None
    return str(reason) if reason else None


def expired(line: dict[str, Any], label_attribute: str) -> bool:
    """Whether an output line reports that the worker-portal task expired."""
    return (failure_reason(line, label_attribute) or "").startswith(EXPIRED_FAILURE)


def expired_output_line(
    input_line: dict[str, Any], label_attribute: str, job_name: str, created: str
) -> dict[str, Any]:
    """The output line Ground Truth writes for an object whose task expired."""
    return {
        **input_line,
        f"{label_attribute}-metadata": {
            "failure-reason": EXPIRED_FAILURE,
            "human-annotated": "no",  # nobody answered: a reader counting people's labels must not count it
            "creation-date": created,
            "job-name": f"labeling-job/{job_name}",
        },
    }
