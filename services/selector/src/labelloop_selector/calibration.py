"""The acceptance threshold a stated quality needs, proven from audits (pure logic, no I/O).

An *audit* is a frame people labelled although its score did not send it to them: every frame
while a model version has no proven threshold, then a seeded random ``control_fraction`` of all
frames (those the threshold accepts: the control arm; those it sends to people anyway: free
evidence). So the audited frames are a sample of the version's frames that does not depend on
their scores, and those at or above any threshold are a fair sample of what that threshold would
auto-accept. Each audit's outcome per measure is the frame's share of right answers (the model's
labels scored against people's, :func:`labelloop.label_quality.frame_measures`).

The bound: a one-sided binomial Chernoff bound, ``inf {p : n·kl(mean, p) ≤ ln(1/(1 - confidence))}``.
It equals Clopper-Pearson when every audit was all right (``(1 - confidence)^(1/n)``), which is
where thresholds are won, and is a little more cautious otherwise. Unlike Clopper-Pearson and
Wilson it stays valid when an outcome is a fraction in [0, 1]: the points of one frame fail
together (a missed person takes all its points), so counting them as independent trials would
claim a confidence the evidence does not have. Wilson's interval also undercovers near 1 with few
trials, which is exactly where the targets sit. Conformal risk control bounds the *expected*
risk over calibration draws, not the risk of this threshold with a stated confidence.

The threshold: candidate thresholds are the audited scores, tested from the strictest that could
pass (``min_audits`` audits above it, and enough that all of them right would meet the target:
0.95 at 90% needs 45) down; the scan stops at the first whose bound misses the target
(fixed-sequence testing, as in Learn-then-Test), so the chosen threshold keeps the stated
confidence without a union bound over the candidates. Too few audits, or a bound short of the
target even at the strictest candidate: no threshold, every frame goes to people (and is audited).
This is threshold-based auto-labelling (Vishwakarma et al., NeurIPS 2023); its cost is the audits,
which every cost figure counts as human labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

TARGET_MEASURES = {"head": "head", "keypoint_pck": "keypoints", "visibility": "keypoints"}
"""Each measure a target can be stated for, and the modality whose labels it judges."""


@dataclass(frozen=True)
class Audit:
    score: float
    value: float
    """The frame's share of right answers on the measure, in [0, 1]."""


@dataclass(frozen=True)
class Estimate:
    """A measure's accuracy above a threshold, from audits alone."""

    measure: str
    target: float | None
    threshold: float | None
    """The lowest proven threshold (with a target), or the one in force (without); None: none proven."""
    audits: int
    """Audits at or above the threshold: the evidence of the estimate."""
    mean: float | None
    bound: float | None
    """Lower confidence bound of the accuracy above the threshold."""

    def as_dict(self) -> dict[str, float | int | str | None]:
        return asdict(self)


def _kl(q: float, p: float) -> float:
    """Kullback-Leibler divergence of Bernoulli(q) from Bernoulli(p)."""
    total = 0.0
    if q > 0.0:
        total += q * math.log(q / p) if p > 0.0 else math.inf
    if q < 1.0:
        total += (1.0 - q) * math.log((1.0 - q) / (1.0 - p)) if p < 1.0 else math.inf
    return total


def lower_bound(total: float, n: int, confidence: float) -> float:
    """Lower ``confidence`` bound on the mean of ``n`` independent outcomes in [0, 1] that sum to ``total``."""
    if n <= 0:
        return 0.0
    mean = min(1.0, max(0.0, total / n))
    allowed = math.log(1.0 / (1.0 - confidence)) / n
    low, high = 0.0, mean  # kl(mean, p) falls as p rises to mean: bisect for where it meets `allowed`
    for _ in range(50):
        middle = (low + high) / 2
        if _kl(mean, middle) > allowed:
            low = middle
        else:
            high = middle
    return low  # the side of the crossing that never overstates


def _meets(total: float, count: int, target: float, confidence: float) -> bool:
    """``lower_bound(total, count, confidence) >= target`` without the bisection: below the mean, kl
    rises as p falls, so the bound is at or above the target when kl at the target already reaches
    the allowance."""
    mean = min(1.0, total / count)
    return mean > target and _kl(mean, target) >= math.log(1.0 / (1.0 - confidence)) / count


def calibrate(audits: Iterable[Audit], measure: str, target: float, confidence: float, min_audits: int) -> Estimate:
    """The lowest threshold whose accuracy bound meets ``target`` (module docstring), with its estimate."""
    ranked = sorted(audits, key=lambda audit: -audit.score)
    proven: tuple[float, int, float] | None = None  # threshold, audits, their total
    first_tested: tuple[int, float] | None = None
    total = 0.0
    for index, audit in enumerate(ranked):
        total += audit.value
        count = index + 1
        if count < min_audits or not _meets(count, count, target, confidence):
            continue  # too little evidence to prove anything yet (a count, not the outcomes: the order stays fixed)
        if count < len(ranked) and ranked[count].score == audit.score:
            continue  # a tie: a threshold takes every frame at its score
        first_tested = first_tested or (count, total)
        if not _meets(total, count, target, confidence):
            break  # fixed-sequence testing: the first failure ends the scan
        proven = (audit.score, count, total)
    if proven is not None:
        threshold, count, total = proven
        return Estimate(measure, target, threshold, count, total / count, lower_bound(total, count, confidence))
    if first_tested is not None:  # the strictest candidate, to show how far from the target it is
        count, total = first_tested
        return Estimate(measure, target, None, count, total / count, lower_bound(total, count, confidence))
    return Estimate(measure, target, None, len(ranked), total / len(ranked) if ranked else None, None)


def estimate_at(audits: Iterable[Audit], measure: str, threshold: float, confidence: float) -> Estimate:
    """The accuracy above a fixed threshold (no target): what auto-accepting at it gives."""
    above = [audit.value for audit in audits if audit.score >= threshold]
    mean = sum(above) / len(above) if above else None
    bound = lower_bound(sum(above), len(above), confidence) if above else None
    return Estimate(measure, None, threshold, len(above), mean, bound)


def frame_threshold(estimates: Mapping[str, Estimate]) -> float | None:
    """A frame is auto-accepted whole, so it needs every targeted measure's threshold: the strictest;
    None when any of them has none proven."""
    thresholds = [estimate.threshold for estimate in estimates.values()]
    if not thresholds or any(threshold is None for threshold in thresholds):
        return None
    return max(threshold for threshold in thresholds if threshold is not None)
