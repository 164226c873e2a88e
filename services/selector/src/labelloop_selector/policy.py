"""The judgement rules that need no I/O: threshold, control arm, near-duplicates.

Routes for one frame:

* ``auto``: score at or above the threshold → its predictions become labels (AutoAccepted);
* ``human``: score below the threshold, or no threshold proven yet for the model versions → people
  label it (HumanReviewRequested, ``uncertain``);
* ``control``: auto-accepted AND sent to people (``control_arm``), for a seeded random fraction
  of would-be auto frames, so auto-label quality is audited on an unbiased sample;
* ``near_duplicate``: would go to people, but is nearly the same as the clip's last frame sent to
  people (deferred, with the frame it duplicates); never an audit, whose frame must be labelled
  whatever it looks like;
* ``over_budget``: would go to people, but the clip's or the hour's budget is spent (deferred).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from labelloop import FramePredictions, deterministic_id
from labelloop.model_set import ModelName

Route = Literal["auto", "human", "control", "near_duplicate", "over_budget"]
Signature = tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class Policy:
    control_fraction: float = 0.05
    control_seed: int = 0
    near_duplicate_distance: float = 0.02
    """Mean keypoint/head-centre displacement, as a fraction of the image size, below which two
    frames count as the same for labeling purposes; 0 turns suppression off."""


def version_tag(model_versions: Mapping[ModelName, str]) -> str:
    """The model versions as one canonical string, ``head=1,pose_main=1,pose_visible=1``
    (made once per message: every frame of it was judged by the same versions)."""
    return ",".join(f"{k}={v}" for k, v in sorted(model_versions.items()))


def frame_key(frame_uri: str, versions: str) -> str:
    """Identity of a frame as judged by one set of model versions (:func:`version_tag`)."""
    return deterministic_id(frame_uri, *versions.split(","))


def control_draw(seed: int, frame_uri: str, versions: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, frame, :func:`version_tag`): the control arm is
    reproducible whatever the order, concurrency or retries."""
    digest = hashlib.sha256(f"{seed}\x1f{frame_uri}\x1f{versions}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def initial_route(score: float, draw: float, threshold: float | None, control_fraction: float) -> tuple[Route, bool]:
    """The route before budgets and near-duplicates are considered, and whether the frame is an audit.

    Audits are chosen whatever the score (every frame while no threshold is proven, then the draw's
    ``control_fraction`` of all), so people's labels of them are a fair sample for any threshold
    (calibration.py); those below the threshold go to people anyway and cost nothing extra.
    """
    audit = threshold is None or draw < control_fraction
    if threshold is None or score < threshold:
        return "human", audit
    return ("control" if audit else "auto"), audit


def signature(predictions: FramePredictions) -> Signature:
    """Where things are in the frame, normalised to [0, 1]: one row per head (its centre) and per
    person (its in-view keypoints, ``nan`` where outside), people ordered by box confidence."""
    width, height = predictions.frame.width, predictions.frame.height
    rows: list[tuple[float, ...]] = [
        ((box.left + box.width / 2) / width, (box.top + box.height / 2) / height)
        for box in sorted(predictions.heads, key=lambda b: (b.left, b.top))
    ]
    for person in sorted(predictions.persons, key=lambda p: -p.box.confidence):
        row: list[float] = []
        for point in person.keypoints:
            inside = point.visibility != "outside"
            row += [point.x / width, point.y / height] if inside else [math.nan, math.nan]
        rows.append(tuple(row))
    return tuple(rows)


def displacement(a: Signature, b: Signature) -> float:
    """Mean point displacement between two signatures; infinite when their structure differs
    (another number of heads or people, another rig, or no point in view in both)."""
    if len(a) != len(b):
        return math.inf
    total, count = 0.0, 0
    for row_a, row_b in zip(a, b, strict=True):
        if len(row_a) != len(row_b):
            return math.inf
        for i in range(0, len(row_a), 2):
            ax, bx = row_a[i], row_b[i]
            if ax == ax and bx == bx:  # noqa: PLR0124 - NaN (a point out of view) is the one value unequal to itself
                total += math.hypot(ax - bx, row_a[i + 1] - row_b[i + 1])
                count += 1
    return total / count if count else math.inf


def is_near_duplicate(candidate: Signature, last_sent: Signature | None, policy: Policy) -> bool:
    if last_sent is None or policy.near_duplicate_distance <= 0:
        return False
    return displacement(candidate, last_sent) <= policy.near_duplicate_distance
